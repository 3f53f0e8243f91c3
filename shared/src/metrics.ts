import { createServer, type Server } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

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
