import {
  AppError,
  keyringFromEnv,
  storageConfigsRepository,
  toErrorBody,
  withDatabase,
  writeAudit,
  type JobContext,
  type JobPayload,
  type WorkerRuntime,
} from '@deeplens/shared';
import type { ProvisionerEnv } from '../config.js';
import { backupRecords } from '../steps/backup-records.repository.js';
import { dumpToStore } from '../steps/backup.steps.js';
import { openBackupStore } from '../storage-writers/index.js';

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

  return async ({ tenantId, backupId }: JobPayload<'tenant.backup'>, context: JobContext) => {
    const backup = await records.backup(backupId);
    if (backup.status === 'completed') return { backupId, storageKey: backup.storage_key, sizeBytes: backup.size_bytes, sha256: backup.sha256 };
    try {
      const stored = await storageConfigsRepository.readDecrypted(platformPool, tenantId, keyring);
      if (!stored) throw new AppError('conflict', 'the tenant has no storage configured; backups go to its own storage');
      const store = openBackupStore(stored);
      await records.markRunning(backupId);
      await context.progress('dump', { database: backup.database_name, storageKey: backup.storage_key });
      const dump = await dumpToStore(withDatabase(env.DATABASE_URL, backup.database_name), store, backup.storage_key).finally(() => store.close());
      await records.complete(backupId, dump.sizeBytes, dump.sha256);
      await writeAudit(platformPool, {
        actor: 'provisioner',
        action: 'tenant.backup',
        tenantId,
        details: { backupId, storageKey: backup.storage_key, sizeBytes: dump.sizeBytes },
        dedupeKey: `tenant.backup:${backupId}`,
      });
      context.log.info({ tenantId, backupId, sizeBytes: dump.sizeBytes }, 'tenant backed up');
      return { backupId, storageKey: backup.storage_key, ...dump };
    } catch (error) {
      const final = !(error instanceof AppError && error.retryable) || context.isFinalAttempt;
      if (final) await records.fail(backupId, toErrorBody(error));
      throw error;
    }
  };
}
