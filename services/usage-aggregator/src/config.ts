import { baseEnvSchema, DEFAULT_STREAM_MAX_LENGTH, parseEnv, positiveInt } from '@deeplens/shared';
import { z } from 'zod';

export const aggregatorEnvSchema = baseEnvSchema.extend({
  /** Counter and tenant-state reconciliation Redis ⇄ PostgreSQL, and the sweep of unpublished quota events. */
  DEEPLENS_USAGE_RECONCILE_INTERVAL_MS: positiveInt(60_000),
  /** Storage and collection measurement in every tenant database. */
  DEEPLENS_USAGE_RESOURCES_INTERVAL_MS: positiveInt(300_000),
  /** Partition maintenance of api_usage_logs and pruning of the event-key ledger. */
  DEEPLENS_USAGE_MAINTENANCE_INTERVAL_MS: positiveInt(3_600_000),
  /** How long an eventId stays an idempotency key; the contract promises at least 35 days. */
  DEEPLENS_USAGE_DEDUPE_RETENTION_DAYS: z.coerce.number().int().min(35).default(35),
  /** Months of api_usage_logs kept before the current one; older partitions are dropped. */
  DEEPLENS_USAGE_LOG_RETENTION_MONTHS: z.coerce.number().int().min(1).max(120).default(13),
  /** Monthly partitions created ahead of the current month. */
  DEEPLENS_USAGE_PARTITIONS_AHEAD: z.coerce.number().int().min(0).max(24).default(2),
  /** Approximate cap of the domain-events stream. */
  DEEPLENS_EVENTS_STREAM_MAX_LENGTH: positiveInt(DEFAULT_STREAM_MAX_LENGTH),
  /**
   * usage.ingest jobs held at once (the aggregator's only queue). Jobs held
   * together share one group commit (one statement, one Redis mirror), so
   * under a backlog this is how many jobs each transaction can carry. Single
   * events make small jobs (10-25 events under load), so 64, not the base 4:
   * against 8, the stages bench measured 72 instead of 170 ms of aggregator
   * CPU and 40 instead of 120 ms of PostgreSQL CPU per 1,000 such events; and
   * the group linger below holds jobs for its duration, which at ~1,000 jobs
   * a second is ~25 of them. A job holds at most 10,000 events and a group
   * commits at most 10,000.
   */
  DEEPLENS_WORKER_CONCURRENCY: positiveInt(64),
  /**
   * How long the first job of a group waits for others before its statement
   * runs. Under single events the API makes jobs of 10-25 events ~1,000 times
   * a second, and without a wait nearly each became a transaction of its own
   * (~800 commits a second in the intake bench): planning, commit and a Redis
   * mirror each, PostgreSQL at 40 % of a core. With 20 ms, PostgreSQL's share
   * halved and the intake rose from 0.26-0.29x to 0.30-0.33x of the hello
   * route, every event still counted within 0.1 s. Jobs are held meanwhile,
   * so keep it well under concurrency / jobs a second (64 / ~1,000 = 64 ms);
   * a full group (10,000 events) starts at once.
   */
  DEEPLENS_USAGE_GROUP_LINGER_MS: z.coerce.number().int().min(0).max(1_000).default(20),
  /**
   * Background priority: counting may trail the intake by seconds (the quota
   * check reads Redis, and the usage answer says what is counted), so under
   * CPU contention the API and the provisioner go first. 0 restores normal.
   */
  DEEPLENS_CPU_NICENESS: baseEnvSchema.shape.DEEPLENS_CPU_NICENESS.removeDefault().default(10),
});

export type AggregatorEnv = z.infer<typeof aggregatorEnvSchema>;
export const loadAggregatorEnv = () => parseEnv(aggregatorEnvSchema);
