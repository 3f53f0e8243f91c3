import { createServer, type Server } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DatabasePool } from 'slonik';
import type { JobProducer } from './queues/producer.js';
import { createPlatformStatusRepository } from './repositories/platform-status.repository.js';

/**
 * One registry per process. Metric names are shared so dashboards can be
 * checked against them; every service registers only what it uses.
 */
export function createMetrics(service: string) {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });

  return {
    registry,
    jobDuration: new Histogram({
      name: 'deeplens_job_duration_seconds',
      help: 'Time a job attempt took, by queue, job name and outcome',
      labelNames: ['queue', 'job', 'outcome'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    jobsFinished: new Counter({
      name: 'deeplens_jobs_finished_total',
      help: 'Jobs that reached a final state, by queue, job name and outcome',
      labelNames: ['queue', 'job', 'outcome'],
      registers: [registry],
    }),
    gauge: (name: string, help: string, labelNames: string[] = []) =>
      new Gauge({ name, help, labelNames, registers: [registry] }),
    counter: (name: string, help: string, labelNames: string[] = []) =>
      new Counter({ name, help, labelNames, registers: [registry] }),
    histogram: (name: string, help: string, labelNames: string[], buckets: number[]) =>
      new Histogram({ name, help, labelNames, buckets, registers: [registry] }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** A worker's own small HTTP endpoint: /metrics for Prometheus, /healthz for the orchestrator. */
export async function startMetricsServer(
  metrics: Metrics,
  host: string,
  port: number,
  isHealthy: () => boolean = () => true,
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      metrics.registry
        .metrics()
        .then((body) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(body);
        })
        .catch(() => {
          res.writeHead(500);
          res.end();
        });
      return;
    }
    if (req.url === '/healthz') {
      const healthy = isHealthy();
      res.writeHead(healthy ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: healthy ? 'ok' : 'unhealthy' }));
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : port };
}

/** Where the platform gauges read from: the platform database and the queues. */
export interface PlatformGaugeSources {
  pool: DatabasePool;
  producer: Pick<JobProducer, 'counts'>;
}

/**
 * The platform's state as gauges, read when Prometheus scrapes (prom-client
 * `collect` callbacks), not on a timer: the status route's counts and two
 * small GROUP BY queries over this month's counters (one row per tenant),
 * plus the queue counts, shared by all the gauges of one scrape. A scrape
 * that finds the database away reports what it can and leaves the rest empty.
 */
export function registerPlatformGauges(metrics: Metrics, sources: PlatformGaugeSources): void {
  const { producer } = sources;
  const platform = createPlatformStatusRepository(sources.pool);
  const readDatabase = async () => {
    const [counts, quota, byPlan] = await Promise.all([
      platform.counts(),
      platform.quotaLevels(),
      platform.usageByPlan(),
    ]);
    return { tenants: counts.tenants, storage: counts.storage, quota, byPlan };
  };

  // One read per scrape, however many gauges ask.
  let pending: { at: number; snapshot: Promise<Awaited<ReturnType<typeof readDatabase>> | null> } | null = null;
  const snapshot = () => {
    if (!pending || Date.now() - pending.at > 1_000) {
      pending = { at: Date.now(), snapshot: readDatabase().catch(() => null) };
    }
    return pending.snapshot;
  };
  const fromDatabase = (
    name: string,
    help: string,
    labelNames: string[],
    fill: (gauge: Gauge, data: NonNullable<Awaited<ReturnType<typeof readDatabase>>>) => void,
  ) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [metrics.registry],
      async collect() {
        this.reset();
        const data = await snapshot();
        if (data) fill(this, data);
      },
    });

  fromDatabase('deeplens_tenants', 'Tenants by plan and status', ['plan', 'status'], (gauge, data) => {
    for (const row of data.tenants) gauge.set({ plan: row.plan, status: row.status }, row.n);
  });
  fromDatabase(
    'deeplens_storage_configs',
    'Storage configs of tenants not deleted, by provider and verification status',
    ['provider', 'status'],
    (gauge, data) => {
      for (const row of data.storage) gauge.set({ provider: row.provider, status: row.status }, row.n);
    },
  );
  fromDatabase(
    'deeplens_tenants_quota',
    'Tenants at 80 % or more of a limit this month: level "near" (80-99 %) or "over" (100 % and more), by limit',
    ['limit', 'level'],
    (gauge, data) => {
      for (const limit of ['apiCalls', 'storageBytes', 'collections']) {
        for (const level of ['near', 'over']) gauge.set({ limit, level }, 0);
      }
      for (const row of data.quota) gauge.set({ limit: row.limit_name, level: row.level }, row.n);
    },
  );
  fromDatabase(
    'deeplens_usage_api_calls_month',
    'API calls counted this UTC month, by plan',
    ['plan'],
    (gauge, data) => {
      for (const row of data.byPlan) gauge.set({ plan: row.plan }, row.api_calls);
    },
  );
  fromDatabase(
    'deeplens_storage_used_bytes',
    'Bytes of images tenants store (last measurement this month), by plan',
    ['plan'],
    (gauge, data) => {
      for (const row of data.byPlan) gauge.set({ plan: row.plan }, row.storage_bytes);
    },
  );
  fromDatabase(
    'deeplens_storage_limit_bytes',
    'Sum of the storage limits of tenants not deleted, by plan',
    ['plan'],
    (gauge, data) => {
      for (const row of data.byPlan) gauge.set({ plan: row.plan }, row.storage_limit_bytes);
    },
  );

  new Gauge({
    name: 'deeplens_queue_jobs',
    help: 'Jobs in each queue by state (waiting includes prioritized), read from Redis on scrape',
    labelNames: ['queue', 'state'],
    registers: [metrics.registry],
    async collect() {
      this.reset();
      const counts = await producer.counts().catch(() => null);
      if (!counts) return;
      for (const [queue, byState] of Object.entries(counts)) {
        const waiting = (byState.waiting ?? 0) + (byState.prioritized ?? 0);
        this.set({ queue, state: 'waiting' }, waiting);
        for (const state of ['active', 'delayed', 'failed', 'completed'])
          this.set({ queue, state }, byState[state] ?? 0);
      }
    },
  });
}
