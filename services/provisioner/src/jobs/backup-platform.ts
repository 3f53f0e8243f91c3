import {
  AppError,
  egressPolicyFromEnv,
  platformNames,
  withDatabase,
  type JobContext,
  type JobPayload,
  type WorkerRuntime,
} from '@deeplens/shared';
import type { ProvisionerEnv } from '../config.js';
import { backupRecords } from '../repositories/backup-records.repository.js';
import { runRecordedBackup } from '../steps/recorded-backup.js';
import { openBackupStore } from '../storage-writers/index.js';

type Deps = { runtime: WorkerRuntime<ProvisionerEnv> };

/** platform.backup: pg_dump of the platform database into the platform's default storage (DEEPLENS_DEFAULT_STORAGE). */
export function backupPlatformHandler({ runtime }: Deps) {
  const { env, platformPool } = runtime;
  const records = backupRecords(platformPool);
  // The platform's storage passes the same policy as a tenant's: an operator lists it in DEEPLENS_EGRESS_ALLOW.
  const egress = egressPolicyFromEnv(env);

  return ({ backupId }: JobPayload<'platform.backup'>, context: JobContext) =>
    runRecordedBackup({
      pool: platformPool,
      records,
      backupId,
      context,
      target: async () => {
        if (!env.DEEPLENS_DEFAULT_STORAGE) {
          throw new AppError(
            'conflict',
            'DEEPLENS_DEFAULT_STORAGE is not set on the provisioner: the platform has no storage for backups',
          );
        }
        const database = platformNames(env.DEEPLENS_DB_PREFIX).platformDatabase;
        return {
          store: openBackupStore({ provider: 'minio', config: env.DEEPLENS_DEFAULT_STORAGE }, { egress }),
          connectionUri: withDatabase(env.DATABASE_URL, database),
          database,
          audit: { action: 'platform.backup' },
        };
      },
    });
}
