import type { CommonQueryMethods } from 'slonik';
import { sql } from '../db/sql.js';

export interface Retention {
  /** Finished job records are kept this many days (the contract promises at least 7). */
  jobRecordDays: number;
  /** Storage verification history is kept this many days. */
  verificationDays: number;
}

/**
 * Removes what the platform keeps only for a while: finished job records past
 * their retention, outbox rows published as long ago (until then an event
 * recorded again by a retry is recognised and kept once), idempotency keys
 * past their expiry, and old storage verifications. Plain deletes by age, so running it twice, or from several
 * replicas at once, is harmless.
 */
export async function pruneExpiredRecords(db: CommonQueryMethods, retention: Retention) {
  const jobRecords = await db.query(sql.typeAlias('void')`
    DELETE FROM job_records WHERE finished_at < now() - make_interval(days => ${retention.jobRecordDays})`);
  const outbox = await db.query(sql.typeAlias('void')`
    DELETE FROM outbox WHERE published_at < now() - make_interval(days => ${retention.jobRecordDays})`);
  const idempotencyKeys = await db.query(sql.typeAlias('void')`DELETE FROM idempotency_keys WHERE expires_at < now()`);
  const verifications = await db.query(sql.typeAlias('void')`
    DELETE FROM storage_verifications
     WHERE finished_at < now() - make_interval(days => ${retention.verificationDays})`);
  return {
    jobRecords: jobRecords.rowCount,
    outbox: outbox.rowCount,
    idempotencyKeys: idempotencyKeys.rowCount,
    verifications: verifications.rowCount,
  };
}
