import {
  AppError,
  eventRowsOf,
  failpoint,
  GroupCommit,
  MAX_EVENTS_PER_JOB,
  mirrorApiCallCounters,
  type DatabasePool,
  type JobPayload,
  type Logger,
  type MeteringRedis,
  type Outbox,
} from '@deeplens/shared';
import type { UsageMetrics } from '../usage-metrics.js';
import { quotaEventKeys } from '../steps/quota-events.js';
import { recordUsageBatch } from '../steps/record-usage-batch.js';

export interface IngestDeps {
  pool: DatabasePool;
  target: MeteringRedis;
  metrics: UsageMetrics;
  /** Where a batch records the quota events it crossed, and publishes them after its commit. */
  outbox: Outbox;
  /** How long the first job of a group waits for company (DEEPLENS_USAGE_GROUP_LINGER_MS). */
  groupLingerMs: number;
  log: Logger;
}

/** What one job of a group learns: its own count, or the error that failed it. */
type JobOutcome = { counted: number } | { error: unknown };

/**
 * Counts a group of jobs in one statement, then mirrors the counters it
 * touched to Redis and publishes the thresholds it crossed. If the statement
 * fails, each job is tried alone, so one job whose events PostgreSQL refuses
 * fails (and retries) by itself instead of failing every job it was grouped
 * with. A Redis mirror that fails fails the whole group: the counts are
 * committed, and every job's retry counts nothing again but mirrors.
 */
async function countGroup(deps: IngestDeps, jobs: string[]): Promise<JobOutcome[]> {
  let batch: Awaited<ReturnType<typeof recordUsageBatch>>;
  try {
    batch = await recordUsageBatch(deps.pool, deps.outbox, jobs);
  } catch (error) {
    if (jobs.length === 1) throw error;
    deps.log.warn({ err: error, jobs: jobs.length }, 'a grouped usage batch failed; counting its jobs one by one');
    return Promise.all(
      jobs.map((job) =>
        countGroup(deps, [job]).then(
          ([outcome]) => outcome!,
          (error: unknown) => ({ error }),
        ),
      ),
    );
  }
  await failpoint('usage.after-commit');

  try {
    await mirrorApiCallCounters(deps.target, batch.counters);
  } catch (error) {
    // Counted already; the retry only mirrors. Reconciliation would repair it too, but later.
    deps.log.warn({ err: error }, 'could not mirror usage counters to Redis');
    throw new AppError('unavailable', 'usage counted, but Redis did not take the counters; retrying', {
      retryable: true,
    });
  }
  // Never throws: what Redis does not take now, the outbox sweep publishes.
  await deps.outbox.publish(quotaEventKeys(batch.quotaEvents));
  for (const row of batch.quotaEvents)
    deps.metrics.quotaEvents.inc({ type: row.threshold >= 100 ? 'quota.exceeded' : 'quota.warning' });
  return batch.countedPerJob.map((counted) => ({ counted }));
}

/**
 * usage.ingest: count the batch exactly once in PostgreSQL, then mirror the
 * counters to Redis and publish the thresholds crossed. Jobs the worker runs
 * at the same time share one group commit (one statement, one mirror), so a
 * backlog is worked off in fewer, larger transactions; an idle aggregator
 * commits a lone job at once. A retry after a crash at any point counts
 * nothing again but still mirrors, because the mirror writes PostgreSQL's
 * absolute values.
 */
export function ingestUsageHandler(deps: IngestDeps) {
  // A job is its event rows' JSON text; a group's size is counted in events.
  const group = new GroupCommit<{ json: string; count: number }, JobOutcome>(
    (jobs) =>
      countGroup(
        deps,
        jobs.map((job) => job.json),
      ),
    {
      lingerMs: deps.groupLingerMs,
      maxSize: MAX_EVENTS_PER_JOB, // events per statement, whatever the concurrency (a bigger job goes alone)
      // Two statements at once: while PostgreSQL runs one, the next group is gathered and sent
      // instead of waiting (full ingest 48k -> 51-55k events/s). Concurrent statements are safe as
      // they are between replicas: each claims its keys in eventId order, and counters in
      // (tenant, month) order only after all its keys, so no two wait on each other in a cycle.
      maxInFlight: 2,
      sizeOf: (job) => job.count,
    },
  );
  return async (payload: JobPayload<'usage.ingest'>) => {
    const job = eventRowsOf(payload);
    const outcome = await group.add(job);
    if ('error' in outcome) throw outcome.error;
    const duplicates = job.count - outcome.counted;
    deps.metrics.eventsIngested.inc(outcome.counted);
    deps.metrics.duplicatesDropped.inc(duplicates);
    return { events: job.count, counted: outcome.counted, duplicates };
  };
}
