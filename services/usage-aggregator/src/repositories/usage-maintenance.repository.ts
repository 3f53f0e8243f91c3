import { sql, type DatabasePool } from '@deeplens/shared';
import { z } from 'zod';

/**
 * Creates this month's and the next months' partitions of api_usage_logs,
 * moves rows out of the default partition into their month's, and drops
 * months past retention. The work happens in the database function of
 * migration 0002 (only the table's owner may change partitions), which
 * serialises callers with an advisory lock.
 */
export async function maintainLogPartitions(
  pool: DatabasePool,
  { monthsAhead, retentionMonths }: { monthsAhead: number; retentionMonths: number },
): Promise<Array<{ action: string; partition: string }>> {
  const rows = await pool.any(sql.type(z.object({ action: z.string(), partition_name: z.string() }))`
    SELECT action, partition_name FROM usage_maintain_log_partitions(${monthsAhead}::int, ${retentionMonths}::int)`);
  return rows.map((row) => ({ action: row.action, partition: row.partition_name }));
}

/**
 * Forgets eventIds received longer ago than the retention (at least 35 days),
 * in slices so no statement holds locks for long. Idempotent, so replicas may
 * run it at once.
 */
export async function pruneEventKeys(pool: DatabasePool, retentionDays: number, slice = 10_000): Promise<number> {
  let total = 0;
  for (;;) {
    const result = await pool.query(sql.typeAlias('void')`
      DELETE FROM usage_event_keys
       WHERE event_id IN (
         SELECT event_id FROM usage_event_keys
          WHERE received_at < now() - make_interval(days => ${retentionDays}::int)
          LIMIT ${slice}::int)`);
    total += result.rowCount;
    if (result.rowCount < slice) return total;
  }
}
