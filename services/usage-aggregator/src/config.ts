import { DEFAULT_STREAM_MAX_LENGTH, positiveInt, workerEnvSchema } from '@deeplens/shared';
import { z } from 'zod';

export const aggregatorEnvSchema = workerEnvSchema.extend({
  /** Connections the platform may hold to all tenant databases together. */
  DEEPLENS_TENANT_POOL_MAX_CONNECTIONS: positiveInt(20),
  DEEPLENS_TENANT_POOL_IDLE_MS: positiveInt(30_000),

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
   * under a backlog this is how many jobs each transaction can carry; single
   * events make small jobs, hence far more than the base 4 (BENCHMARKS.md,
   * "stages"). A job holds at most 10,000 events and a group commits at most
   * 10,000.
   */
  DEEPLENS_WORKER_CONCURRENCY: positiveInt(64),
  /**
   * How long the first job of a group waits for others before its statement
   * runs. Without a wait, under single events nearly every small job became a
   * transaction of its own (planning, commit and a Redis mirror each); a short
   * wait lets them share one (BENCHMARKS.md, intake). Jobs are held meanwhile,
   * so keep it well under concurrency / jobs a second; a full group (10,000
   * events) starts at once.
   */
  DEEPLENS_USAGE_GROUP_LINGER_MS: z.coerce.number().int().min(0).max(1_000).default(20),
  /**
   * Background priority: counting may trail the intake by seconds (the quota
   * check reads Redis, and the usage answer says what is counted), so under
   * CPU contention the API and the provisioner go first. 0 restores normal.
   */
  DEEPLENS_CPU_NICENESS: workerEnvSchema.shape.DEEPLENS_CPU_NICENESS.removeDefault().default(10),
});
