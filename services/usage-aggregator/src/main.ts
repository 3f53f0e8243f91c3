import {
  createOutbox,
  createProducerConnection,
  keyringFromEnv,
  runWorkerService,
  tenantDatabaseServerUri,
  TenantPools,
  tenantRolesRepository,
  type MeteringRedis,
} from '@deeplens/shared';
import { aggregatorEnvSchema } from './config.js';
import { ingestUsageHandler } from './jobs/ingest-usage.js';
import { maintainLogPartitions, pruneEventKeys } from './repositories/usage-maintenance.repository.js';
import { quotaEventKeys } from './steps/quota-events.js';
import { reconcileCounters } from './steps/reconcile-counters.js';
import { reconcileResources } from './steps/reconcile-resources.js';
import { createUsageMetrics } from './usage-metrics.js';

await runWorkerService({
  name: 'usage-aggregator',
  envSchema: aggregatorEnvSchema,
  async start(runtime) {
    const { env, log, platformPool: pool } = runtime;
    // Mirror writes fail within a second when Redis is away (the job is retried) rather than hanging the job.
    const redis = createProducerConnection(env.REDIS_URL, { enableOfflineQueue: true });
    redis.on('error', () => undefined);
    runtime.onClose(async () => void redis.disconnect());
    const target: MeteringRedis = { redis, prefix: env.DEEPLENS_QUEUE_PREFIX };
    // Each tenant database is read as its tenant's own login role, bound by that database's RLS.
    const tenantRoles = tenantRolesRepository(pool, keyringFromEnv(env));
    const tenantPools = new TenantPools({
      connectionUri: tenantDatabaseServerUri(env),
      credentials: async (database) => {
        const { role, password } = await tenantRoles.forDatabase(database);
        return { user: role, password };
      },
      maxConnections: env.DEEPLENS_TENANT_POOL_MAX_CONNECTIONS,
      idleMs: env.DEEPLENS_TENANT_POOL_IDLE_MS,
    });
    runtime.onClose(() => tenantPools.close());
    const metrics = createUsageMetrics(runtime.metrics);
    const outbox = createOutbox({
      pool,
      producer: runtime.producer,
      log,
      streamMaxLength: env.DEEPLENS_EVENTS_STREAM_MAX_LENGTH,
    });

    runtime.startWorker('usage', {
      'usage.ingest': ingestUsageHandler({
        pool,
        target,
        outbox,
        metrics,
        log,
        groupLingerMs: env.DEEPLENS_USAGE_GROUP_LINGER_MS,
      }),
    });

    runtime.every(
      { name: 'usage counter reconciliation', intervalMs: env.DEEPLENS_USAGE_RECONCILE_INTERVAL_MS, exclusive: true },
      async () => {
        const outcome = await reconcileCounters(pool, target);
        metrics.countersRepaired.inc(outcome.repaired);
        metrics.counterDriftRepaired.inc(outcome.drift);
        const level = outcome.repaired || outcome.statesRepublished ? 'warn' : 'debug';
        log[level](
          { ...outcome },
          `usage reconciliation: repaired ${outcome.repaired} Redis counters (drift ${outcome.drift} calls), republished ${outcome.statesRepublished} tenant states`,
        );
      },
    );
    runtime.every(
      { name: 'usage resource reconciliation', intervalMs: env.DEEPLENS_USAGE_RESOURCES_INTERVAL_MS, exclusive: true },
      async () => {
        const outcome = await reconcileResources({ pool, outbox, tenantPools, log, concurrency: 4 });
        metrics.resourceMeasurementFailures.inc(outcome.failed.length);
        if (outcome.failed.length) log.warn({ failed: outcome.failed }, 'some tenant databases could not be measured');
        await outbox.publish(quotaEventKeys(outcome.quotaEvents));
        for (const row of outcome.quotaEvents)
          metrics.quotaEvents.inc({ type: row.threshold >= 100 ? 'quota.exceeded' : 'quota.warning' });
        log.debug(
          { month: outcome.month, measured: outcome.measured, failed: outcome.failed.length },
          'tenant resources measured',
        );
      },
    );
    // Not exclusive: maintainLogPartitions serialises its callers itself, and pruning twice is harmless.
    runtime.every({ name: 'usage maintenance', intervalMs: env.DEEPLENS_USAGE_MAINTENANCE_INTERVAL_MS }, async () => {
      const partitions = await maintainLogPartitions(pool, {
        monthsAhead: env.DEEPLENS_USAGE_PARTITIONS_AHEAD,
        retentionMonths: env.DEEPLENS_USAGE_LOG_RETENTION_MONTHS,
      });
      if (partitions.length) log.info({ partitions }, 'api_usage_logs partitions maintained');
      const pruned = await pruneEventKeys(pool, env.DEEPLENS_USAGE_DEDUPE_RETENTION_DAYS);
      if (pruned) log.info({ pruned }, 'event keys past retention pruned');
    });
  },
});
