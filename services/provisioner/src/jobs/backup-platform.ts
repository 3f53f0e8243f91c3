import {
  AppError,
  platformNames,
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

/** platform.backup: pg_dump of the platform database into the platform's default storage (DEEPLENS_DEFAULT_STORAGE). */
export function backupPlatformHandler({ runtime }: Deps) {
  const { env, platformPool } = runtime;
  const records = backupRecords(platformPool);

  return async ({ backupId }: JobPayload<'platform.backup'>, context: JobContext) => {
    const backup = await records.backup(backupId);
    if (backup.status === 'completed') return { backupId, storageKey: backup.storage_key, sizeBytes: backup.size_bytes, sha256: backup.sha256 };
    try {
      if (!env.DEEPLENS_DEFAULT_STORAGE) throw new AppError('conflict', 'DEEPLENS_DEFAULT_STORAGE is not set on the provisioner: the platform has no storage for backups');
      const store = openBackupStore({ provider: 'minio', config: env.DEEPLENS_DEFAULT_STORAGE });
      await records.markRunning(backupId);
      const database = platformNames(env.DEEPLENS_DB_PREFIX).platformDatabase;
      await context.progress('dump', { database, storageKey: backup.storage_key });
      const dump = await dumpToStore(withDatabase(env.DATABASE_URL, database), store, backup.storage_key).finally(() => store.close());
      await records.complete(backupId, dump.sizeBytes, dump.sha256);
      await writeAudit(platformPool, {
        actor: 'provisioner',
        action: 'platform.backup',
        details: { backupId, storageKey: backup.storage_key, sizeBytes: dump.sizeBytes },
        dedupeKey: `platform.backup:${backupId}`,
      });
      return { backupId, storageKey: backup.storage_key, ...dump };
    } catch (error) {
      if (!(error instanceof AppError && error.retryable) || context.isFinalAttempt) await records.fail(backupId, toErrorBody(error));
      throw error;
    }
  };
}
