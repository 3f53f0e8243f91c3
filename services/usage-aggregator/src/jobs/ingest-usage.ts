import {
  AppError,
  failpoint,
  mirrorApiCallCounters,
  type DatabasePool,
  type JobContext,
  type JobPayload,
  type MeteringRedis,
} from '@deeplens/shared';
import type { UsageMetrics } from '../usage-metrics.js';
import { publishQuotaEvents } from '../steps/quota-events.js';
import { recordUsageBatch } from '../steps/record-usage-batch.js';

export interface IngestDeps {
  pool: DatabasePool;
  target: MeteringRedis;
  metrics: UsageMetrics;
  streamMaxLength: number;
}

/**
 * usage.ingest: count the batch exactly once in PostgreSQL, then mirror the
 * counters it touched to Redis and publish the thresholds it crossed. A retry
 * after a crash at any point counts nothing again but still mirrors, because
 * the mirror writes PostgreSQL's absolute values.
 */
export function ingestUsageHandler(deps: IngestDeps) {
  return async ({ events }: JobPayload<'usage.ingest'>, context: JobContext) => {
    const batch = await recordUsageBatch(deps.pool, events);
    failpoint('usage.after-commit');

    try {
      await mirrorApiCallCounters(deps.target, batch.counters);
    } catch (error) {
      // Counted already; the retry only mirrors. Reconciliation would repair it too, but later.
      context.log.warn({ err: error }, 'could not mirror usage counters to Redis');
      throw new AppError('unavailable', 'usage counted, but Redis did not take the counters; retrying', { retryable: true });
    }
    try {
      await publishQuotaEvents(deps, batch.quotaEvents);
    } catch (error) {
      context.log.warn({ err: error, events: batch.quotaEvents.length }, 'quota events not published yet; the sweep will');
    }

    const duplicates = events.length - batch.counted;
    deps.metrics.eventsIngested.inc(batch.counted);
    deps.metrics.duplicatesDropped.inc(duplicates);
    for (const row of batch.quotaEvents) deps.metrics.quotaEvents.inc({ type: row.threshold >= 100 ? 'quota.exceeded' : 'quota.warning' });
    return { events: events.length, counted: batch.counted, duplicates };
  };
}
