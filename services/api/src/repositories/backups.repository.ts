import { sql } from '@deeplens/shared';
import type { CommonQueryMethods } from 'slonik';
import { z } from 'zod';

/** The API's side of backups and restores (infra/migrations/platform/0004): the requests it records and the list it shows. */

const backupRow = z.object({
  id: z.string(),
  created_at: z.number(),
  size_bytes: z.number().nullable(),
  sha256: z.string().nullable(),
  storage_key: z.string(),
  status: z.string(),
});
export type BackupRow = z.infer<typeof backupRow>;

export const backupsRepository = {
  /** The tenant's registered metadata database, or null when it has none. */
  async registeredDatabase(db: CommonQueryMethods, tenantId: string): Promise<string | null> {
    return db.maybeOneFirst(sql.type(z.object({ database_name: z.string() }))`
      SELECT database_name FROM tenant_databases WHERE tenant_id = ${tenantId} AND db_type = 'metadata' AND dropped_at IS NULL`);
  },

  /** A requested backup, pending until the provisioner's job makes it. `tenantId` null: the platform's own. */
  async insertPending(
    db: CommonQueryMethods,
    backup: {
      id: string;
      tenantId: string | null;
      database: string;
      provider: string;
      storageKey: string;
      requestedBy: string;
    },
  ): Promise<void> {
    await db.query(sql.typeAlias('void')`
      INSERT INTO backups (id, kind, tenant_id, database_name, provider, storage_key, status, requested_by)
      VALUES (${backup.id}, ${backup.tenantId === null ? 'platform' : 'tenant'}, ${backup.tenantId}, ${backup.database},
              ${backup.provider}, ${backup.storageKey}, 'pending', ${backup.requestedBy})`);
  },

  /** The tenant's backups, newest first. */
  async list(db: CommonQueryMethods, tenantId: string): Promise<readonly BackupRow[]> {
    return db.any(sql.type(backupRow)`
      SELECT id, created_at, size_bytes, sha256, storage_key, status FROM backups
       WHERE tenant_id = ${tenantId} ORDER BY created_at DESC, id LIMIT 1000`);
  },

  /** The status of one of the tenant's backups, or null when the tenant has no such backup. */
  async statusOf(db: CommonQueryMethods, tenantId: string, backupId: string): Promise<string | null> {
    return db.maybeOneFirst(sql.type(z.object({ status: z.string() }))`
      SELECT status FROM backups WHERE id = ${backupId} AND tenant_id = ${tenantId}`);
  },

  /** A requested restore, pending until the provisioner's job runs it. */
  async insertPendingRestore(
    db: CommonQueryMethods,
    restore: { id: string; backupId: string; tenantId: string; swap: boolean },
  ): Promise<void> {
    await db.query(sql.typeAlias('void')`
      INSERT INTO backup_restores (id, backup_id, tenant_id, swap, status)
      VALUES (${restore.id}, ${restore.backupId}, ${restore.tenantId}, ${restore.swap}, 'pending')`);
  },
};
