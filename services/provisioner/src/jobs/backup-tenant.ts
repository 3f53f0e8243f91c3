import {
  AppError,
  egressPolicyFromEnv,
  keyringFromEnv,
  nfsRulesFromEnv,
  storageConfigsRepository,
  withDatabase,
  type JobContext,
  type JobPayload,
  type WorkerRuntime,
} from '@deeplens/shared';
import type { ProvisionerEnv } from '../config.js';
import { backupRecords } from '../repositories/backup-records.repository.js';
import { runRecordedBackup } from '../steps/recorded-backup.js';
import { assertVerifiedStorage, openBackupStore } from '../storage-writers/index.js';

type Deps = { runtime: WorkerRuntime<ProvisionerEnv> };

/**
 * tenant.backup: stream pg_dump of the tenant's database into the tenant's
 * own storage under the key the API chose, then record size and checksum.
 * A retry writes the same key again; a completed backup is not redone.
 */
export function backupTenantHandler({ runtime }: Deps) {
  const { env, platformPool } = runtime;
  const keyring = keyringFromEnv(env);
  const records = backupRecords(platformPool);
  const egress = egressPolicyFromEnv(env);

  return ({ tenantId, backupId }: JobPayload<'tenant.backup'>, context: JobContext) =>
    runRecordedBackup({
      pool: platformPool,
      records,
      backupId,
      context,
      target: async (backup) => {
        const stored = await storageConfigsRepository.readDecrypted(platformPool, tenantId, keyring);
        if (!stored)
          throw new AppError('conflict', 'the tenant has no storage configured; backups go to its own storage');
        assertVerifiedStorage(stored);
        return {
          store: openBackupStore(stored, { tenantId, egress, nfs: nfsRulesFromEnv(env) }),
          connectionUri: withDatabase(env.DATABASE_URL, backup.database_name),
          database: backup.database_name,
          audit: { action: 'tenant.backup', tenantId },
        };
      },
    });
}
