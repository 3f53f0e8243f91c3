import { AppError, sql, type DatabasePool } from '@deeplens/shared';
import type { CommonQueryMethods } from 'slonik';
import { z } from 'zod';

/** The backups and backup_restores tables (infra/migrations/platform/0004), as the jobs use them. */

const backupRow = z.object({
  id: z.string(),
  kind: z.enum(['tenant', 'platform']),
  tenant_id: z.string().nullable(),
  database_name: z.string(),
  provider: z.string(),
  storage_key: z.string(),
  status: z.enum(['pending', 'running', 'completed', 'failed']),
  size_bytes: z.number().nullable(),
  sha256: z.string().nullable(),
});
export type BackupRow = z.infer<typeof backupRow>;

const restoreRow = z.object({
  id: z.string(),
  backup_id: z.string(),
  tenant_id: z.string(),
  target_database: z.string().nullable(),
  swap: z.boolean(),
  status: z.enum(['pending', 'restored', 'swapped', 'failed']),
});
export type RestoreRow = z.infer<typeof restoreRow>;

export function backupRecords(pool: DatabasePool) {
  return {
    /** The API inserts the row in the transaction that enqueues: a job may run a moment before it is visible. */
    async backup(id: string): Promise<BackupRow> {
      const row = await pool.maybeOne(sql.type(backupRow)`
        SELECT id, kind, tenant_id, database_name, provider, storage_key, status, size_bytes, sha256 FROM backups WHERE id = ${id}`);
      if (!row) throw new AppError('not_found', `backup ${id} does not exist`, { retryable: true });
      return row;
    },

    async markRunning(id: string): Promise<void> {
      await pool.query(sql.typeAlias('void')`
        UPDATE backups SET status = 'running', error_code = NULL, error_message = NULL WHERE id = ${id} AND status <> 'completed'`);
    },

    async complete(id: string, sizeBytes: number, sha256: string): Promise<void> {
      await pool.query(sql.typeAlias('void')`
        UPDATE backups SET status = 'completed', size_bytes = ${sizeBytes}, sha256 = ${sha256}, completed_at = now()
         WHERE id = ${id}`);
    },

    async fail(id: string, error: { code: string; message: string }): Promise<void> {
      await pool.query(sql.typeAlias('void')`
        UPDATE backups SET status = 'failed', error_code = ${error.code}, error_message = ${error.message}, completed_at = now()
         WHERE id = ${id} AND status <> 'completed'`);
    },

    async restore(id: string): Promise<RestoreRow> {
      const row = await pool.maybeOne(sql.type(restoreRow)`
        SELECT id, backup_id, tenant_id, target_database, swap, status FROM backup_restores WHERE id = ${id}`);
      if (!row) throw new AppError('not_found', `restore ${id} does not exist`, { retryable: true });
      return row;
    },

    async setTarget(id: string, target: string): Promise<void> {
      await pool.query(sql.typeAlias('void')`
        UPDATE backup_restores SET target_database = ${target} WHERE id = ${id} AND target_database IS NULL`);
    },

    async setPrevious(id: string, previous: string): Promise<void> {
      await pool.query(sql.typeAlias('void')`
        UPDATE backup_restores SET previous_database = ${previous} WHERE id = ${id} AND previous_database IS NULL`);
    },

    /** Every database a restore of the tenant made or set aside, whether or not it still exists. */
    async restoreDatabases(tenantId: string): Promise<readonly string[]> {
      return pool.anyFirst(sql.type(z.object({ database_name: z.string() }))`
        SELECT DISTINCT database_name FROM backup_restores, unnest(ARRAY[target_database, previous_database]) AS database_name
         WHERE tenant_id = ${tenantId} AND database_name IS NOT NULL`);
    },

    async restoreState(
      id: string,
      status: 'restored' | 'failed',
      error?: { code: string; message: string },
    ): Promise<void> {
      await pool.query(sql.typeAlias('void')`
        UPDATE backup_restores SET status = ${status}, error_code = ${error?.code ?? null},
               error_message = ${error?.message ?? null}, finished_at = now()
         WHERE id = ${id} AND status NOT IN ('swapped', ${status})`);
    },

    /** The swap's record: the restore, and the registration that now points at restored contents. */
    async recordSwap(
      trx: CommonQueryMethods,
      restore: RestoreRow,
      registered: string,
      previous: string,
    ): Promise<void> {
      await trx.query(sql.typeAlias('void')`
        UPDATE backup_restores SET status = 'swapped', previous_database = ${previous}, finished_at = now()
         WHERE id = ${restore.id}`);
      await trx.query(sql.typeAlias('void')`
        UPDATE tenant_databases SET restored_from_backup = ${restore.backup_id}, restored_at = now()
         WHERE tenant_id = ${restore.tenant_id} AND database_name = ${registered} AND dropped_at IS NULL`);
    },

    async registeredDatabase(tenantId: string): Promise<string | null> {
      return pool.maybeOneFirst(sql.type(z.object({ database_name: z.string() }))`
        SELECT database_name FROM tenant_databases WHERE tenant_id = ${tenantId} AND db_type = 'metadata' AND dropped_at IS NULL`);
    },
  };
}

export type BackupRecords = ReturnType<typeof backupRecords>;
