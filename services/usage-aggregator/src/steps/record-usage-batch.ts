import { failpoint, sql, type CounterValue, type DatabasePool, type Outbox } from '@deeplens/shared';
import { z } from 'zod';
import { recordThresholdCrossings, type QuotaEventRow } from './quota-events.js';

export interface RecordedBatch {
  /** Events counted by this call, per job of the group (in order): not seen before, in this group or any earlier one. */
  countedPerJob: number[];
  /** The current counter of every (tenant, month) the batch touched, new events or not. */
  counters: CounterValue[];
  /** Thresholds crossed for the first time by this batch. */
  quotaEvents: QuotaEventRow[];
}

const counterRow = z.object({
  tenant_id: z.string(),
  month: z.string(),
  api_calls: z.number(),
  added: z.number(),
  // {"<job index>": counted}, the same on every row: the statement returns one result set.
  per_job: z.string(),
});

/**
 * Counts a group of jobs' events exactly once, in one transaction and one statement: the
 * eventIds not yet in the ledger are claimed, only those events are written
 * to api_usage_logs, and only they are added to the monthly counters. The
 * claim commits with the write or not at all, so a crash anywhere leaves
 * either everything or nothing, and a redelivered batch counts nothing twice.
 * The thresholds crossed are recorded in the same transaction.
 *
 * The group travels as one JSON parameter (an array of jobs, each the JSON
 * text of its event rows as the intake wrote them, EVENT_ROW_FIELDS in order,
 * sub-millisecond instants already cut) that PostgreSQL reads as jsonb,
 * casting each field by position to its column's type. The aggregator neither
 * parses nor builds the events: building one value per field for `unnest`
 * cost it more than the statement cost PostgreSQL. The first occurrence of an
 * eventId wins (DISTINCT ON, in eventId order, so concurrent batches lock keys
 * in the same order).
 */
export async function recordUsageBatch(
  pool: DatabasePool,
  outbox: Outbox,
  jobs: readonly string[],
): Promise<RecordedBatch> {
  const group = `[${jobs.join(',')}]`;

  return pool.transaction(async (trx) => {
    const rows = await trx.any(sql.type(counterRow)`
      WITH input AS (
        SELECT DISTINCT ON (event_id) *
          FROM (SELECT j.position - 1 AS job, (e.r->>0)::uuid AS event_id, (e.r->>1)::uuid AS tenant_id,
                       e.r->>2 AS endpoint, e.r->>3 AS method, (e.r->>4)::int4 AS status_code, (e.r->>5)::int4 AS duration_ms,
                       (e.r->>6)::int8 AS request_bytes, (e.r->>7)::int8 AS response_bytes, (e.r->>8)::timestamptz AS occurred_at
                  FROM jsonb_array_elements(${group}::jsonb) WITH ORDINALITY AS j(rows, position)
                 CROSS JOIN LATERAL jsonb_array_elements(j.rows) AS e(r)) AS events
         ORDER BY event_id, job
      ),
      claimed AS (
        INSERT INTO usage_event_keys (event_id, tenant_id, occurred_at)
        SELECT event_id, tenant_id, occurred_at FROM input ORDER BY event_id
        ON CONFLICT (event_id) DO NOTHING
        RETURNING event_id
      ),
      -- Every event of the group once, marked fresh where its key was claimed now (one join serves
      -- the log, the counters and the per-job counts).
      marked AS (
        SELECT i.*, date_trunc('month', i.occurred_at AT TIME ZONE 'UTC')::date AS period, c.event_id IS NOT NULL AS fresh
          FROM input i LEFT JOIN claimed c USING (event_id)
      ),
      logged AS (
        INSERT INTO api_usage_logs (event_id, tenant_id, endpoint, method, status_code, duration_ms,
                                    request_bytes, response_bytes, occurred_at)
        SELECT event_id, tenant_id, endpoint, method, status_code, duration_ms, request_bytes, response_bytes, occurred_at
          FROM marked WHERE fresh
      ),
      -- Every (tenant, month) the group touched, with what it adds (0 for a group of duplicates,
      -- whose counters are still returned and mirrored).
      per_period AS (
        SELECT tenant_id, period, count(*) FILTER (WHERE fresh) AS n FROM marked GROUP BY 1, 2
      ),
      counted AS (
        INSERT INTO usage_counters (tenant_id, period, api_calls)
        SELECT tenant_id, period, n FROM per_period ORDER BY tenant_id, period
        ON CONFLICT (tenant_id, period)
          DO UPDATE SET api_calls = usage_counters.api_calls + excluded.api_calls, updated_at = now()
        RETURNING tenant_id, period, api_calls
      ),
      per_job AS (
        SELECT coalesce(json_object_agg(job, n), '{}')::text AS counts
          FROM (SELECT job, count(*) AS n FROM marked WHERE fresh GROUP BY 1) j
      )
      SELECT c.tenant_id, to_char(c.period, 'YYYY-MM') AS month, c.api_calls, p.n::bigint AS added,
             (SELECT counts FROM per_job) AS per_job
        FROM counted c JOIN per_period p USING (tenant_id, period)`);

    const crossed = await recordThresholdCrossings(
      trx,
      outbox,
      'api_calls',
      rows
        .filter((row) => row.added > 0)
        .map((row) => ({ tenantId: row.tenant_id, month: row.month, used: row.api_calls })),
    );
    await failpoint('usage.before-commit');
    const perJob = JSON.parse(rows[0]?.per_job ?? '{}') as Record<string, number>;
    return {
      countedPerJob: jobs.map((_, job) => perJob[job] ?? 0),
      counters: rows.map((row) => ({ tenantId: row.tenant_id, month: row.month, apiCalls: row.api_calls })),
      quotaEvents: crossed,
    };
  });
}
