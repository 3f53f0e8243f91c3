import {
  AppError,
  egressPolicyFromEnv,
  keyringFromEnv,
  nfsRulesFromEnv,
  storageConfigsRepository,
  tenantLoginRoleName,
  toErrorBody,
  writeAudit,
  type JobContext,
  type JobPayload,
  type WorkerRuntime,
} from '@deeplens/shared';
import type { ProvisionerEnv } from '../config.js';
import {
  preRestoreDatabaseName,
  restoreDatabaseName,
  restoreIntoNewDatabase,
  swapInRestoredDatabase,
} from '../steps/backup-databases.steps.js';
import { backupRecords } from '../repositories/backup-records.repository.js';
import { downloadVerified } from '../steps/backup.steps.js';
import { assertRowLevelSecurity } from '../steps/tenant-database.steps.js';
import { assertVerifiedStorage, openBackupStore } from '../storage-writers/index.js';

type Deps = { runtime: WorkerRuntime<ProvisionerEnv> };

/**
 * tenant.restore: download the backup, check its checksum, restore it into a
 * database of its own (`<registered>_restore_<id>`), check RLS as
 * provisioning does and, with `swap`, give it the registered name (the old
 * database kept as `<registered>_pre_restore_<id>`). The restore row says
 * which steps are done, the catalog says how far a swap got: safe to re-run.
 */
export function restoreTenantHandler({ runtime }: Deps) {
  const { env, platformPool } = runtime;
  const keyring = keyringFromEnv(env);
  const records = backupRecords(platformPool);
  const egress = egressPolicyFromEnv(env);

  /**
   * The restore and the backup must both be the job's tenant's: a job whose
   * payload pairs a tenant with another tenant's backup (the API never makes
   * one; someone with access to Redis could) fails with not_found before
   * anything is read from storage, created or written.
   */
  async function owned(payload: JobPayload<'tenant.restore'>) {
    const restoreRow = await records.restore(payload.restoreId);
    const backup = await records.backup(payload.backupId);
    if (
      restoreRow.tenant_id !== payload.tenantId ||
      restoreRow.backup_id !== backup.id ||
      backup.kind !== 'tenant' ||
      backup.tenant_id !== payload.tenantId
    ) {
      throw new AppError('not_found', `tenant ${payload.tenantId} has no backup ${payload.backupId} to restore`, {
        retryable: false,
      });
    }
    return { restoreRow, backup };
  }

  async function restore(
    payload: JobPayload<'tenant.restore'>,
    context: JobContext,
    { restoreRow, backup }: Awaited<ReturnType<typeof owned>>,
  ) {
    const role = tenantLoginRoleName(env.DEEPLENS_DB_PREFIX, payload.tenantId);
    if (backup.status !== 'completed' || !backup.sha256 || backup.size_bytes === null) {
      throw new AppError(
        'conflict',
        `backup ${backup.id} is ${backup.status}; only a completed backup can be restored`,
      );
    }
    const registered = await records.registeredDatabase(payload.tenantId);
    if (!registered) throw new AppError('conflict', 'the tenant has no registered database to restore beside');
    const target = restoreDatabaseName(registered, restoreRow.id);
    await records.setTarget(restoreRow.id, target);
    if (restoreRow.status === 'pending') {
      const stored = await storageConfigsRepository.readDecrypted(platformPool, payload.tenantId, keyring);
      if (!stored) throw new AppError('conflict', 'the tenant has no storage configured; its backups cannot be read');
      assertVerifiedStorage(stored);
      const store = openBackupStore(stored, { tenantId: payload.tenantId, egress, nfs: nfsRulesFromEnv(env) });
      await context.progress('download', { storageKey: backup.storage_key });
      const dump = await downloadVerified(store, backup.storage_key, {
        sizeBytes: backup.size_bytes,
        sha256: backup.sha256,
      }).finally(() => store.close());
      try {
        await context.progress('restore', { database: target });
        await restoreIntoNewDatabase(env, target, dump.file, role);
      } finally {
        await dump.cleanup();
      }
      await assertRowLevelSecurity(env, target, role);
      await records.restoreState(restoreRow.id, 'restored');
    }
    if (!restoreRow.swap || restoreRow.status === 'swapped') {
      return {
        restoreId: restoreRow.id,
        database: restoreRow.status === 'swapped' ? registered : target,
        swapped: restoreRow.status === 'swapped',
      };
    }

    const previous = preRestoreDatabaseName(registered, restoreRow.id);
    // Registered before it exists, as the target is: deprovisioning drops what a restore made.
    await records.setPrevious(restoreRow.id, previous);
    await context.progress('swap', { database: registered, previous });
    await swapInRestoredDatabase(env, { registered, target, previous, role });
    await platformPool.transaction(async (trx) => {
      await records.recordSwap(trx, restoreRow, registered, previous);
      await writeAudit(trx, {
        actor: 'provisioner',
        action: 'tenant.restore.swap',
        tenantId: payload.tenantId,
        details: { backupId: backup.id, restoreId: restoreRow.id, database: registered, previous },
        dedupeKey: `tenant.restore.swap:${restoreRow.id}`,
      });
    });
    context.log.info(
      { tenantId: payload.tenantId, restoreId: restoreRow.id, database: registered, previous },
      'backup restored and swapped in',
    );
    return { restoreId: restoreRow.id, database: registered, previousDatabase: previous, swapped: true };
  }

  return async (payload: JobPayload<'tenant.restore'>, context: JobContext) => {
    const rows = await owned(payload);
    try {
      return await restore(payload, context, rows);
    } catch (error) {
      if (!(error instanceof AppError && error.retryable) || context.isFinalAttempt) {
        await records.restoreState(payload.restoreId, 'failed', toErrorBody(error));
      }
      throw error;
    }
  };
}
