import { AppError, toErrorBody, writeAudit, type DatabasePool, type JobContext } from '@deeplens/shared';
import type { BackupStore } from '../storage-writers/index.js';
import type { BackupRecords, BackupRow } from '../repositories/backup-records.repository.js';
import { dumpToStore } from './backup.steps.js';

/** Where a backup goes and what its audit entry says; resolved once the backup's record is loaded. */
export interface BackupTarget {
  store: BackupStore;
  connectionUri: string;
  database: string;
  audit: { action: 'tenant.backup' | 'platform.backup'; tenantId?: string };
}

/**
 * The life of one recorded backup, tenant or platform alike: a completed
 * record answers at once (a retry does not dump again); otherwise running →
 * dump streamed to the store → completed with size and checksum → audited. A
 * failure is recorded on the record when no retry follows.
 */
export async function runRecordedBackup(options: {
  pool: DatabasePool;
  records: BackupRecords;
  backupId: string;
  context: JobContext;
  target: (backup: BackupRow) => Promise<BackupTarget>;
}) {
  const { pool, records, backupId, context } = options;
  const backup = await records.backup(backupId);
  if (backup.status === 'completed') {
    return { backupId, storageKey: backup.storage_key, sizeBytes: backup.size_bytes, sha256: backup.sha256 };
  }
  try {
    const target = await options.target(backup);
    await records.markRunning(backupId);
    await context.progress('dump', { database: target.database, storageKey: backup.storage_key });
    const dump = await dumpToStore(target.connectionUri, target.store, backup.storage_key).finally(() =>
      target.store.close(),
    );
    await records.complete(backupId, dump.sizeBytes, dump.sha256);
    await writeAudit(pool, {
      actor: 'provisioner',
      action: target.audit.action,
      tenantId: target.audit.tenantId ?? null,
      details: { backupId, storageKey: backup.storage_key, sizeBytes: dump.sizeBytes },
      dedupeKey: `${target.audit.action}:${backupId}`,
    });
    context.log.info({ backupId, database: target.database, sizeBytes: dump.sizeBytes }, 'backed up');
    return { backupId, storageKey: backup.storage_key, ...dump };
  } catch (error) {
    if (!(error instanceof AppError && error.retryable) || context.isFinalAttempt)
      await records.fail(backupId, toErrorBody(error));
    throw error;
  }
}
