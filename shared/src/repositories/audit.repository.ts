import type { CommonQueryMethods } from 'slonik';
import { sql } from '../db/sql.js';

export interface AuditEntry {
  actor: string;
  action: string;
  tenantId?: string | null;
  details?: Record<string, unknown>;
  /** Steps of a retried job pass the same key, so the entry is written once. */
  dedupeKey?: string;
}

/** The append-only record of every admin action. Details never hold a secret: callers pass ids and names. */
export async function writeAudit(db: CommonQueryMethods, entry: AuditEntry): Promise<void> {
  await db.query(sql.typeAlias('void')`
    INSERT INTO audit_log (actor, action, tenant_id, details, dedupe_key)
    VALUES (${entry.actor}, ${entry.action}, ${entry.tenantId ?? null}, ${sql.jsonb((entry.details ?? {}) as never)},
            ${entry.dedupeKey ?? null})
    ON CONFLICT (dedupe_key) DO NOTHING`);
}
