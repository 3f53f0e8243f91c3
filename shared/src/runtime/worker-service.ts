import type { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { z } from 'zod';
import { parseEnv, parseEnvOrExit, workerEnvSchema, type WorkerEnv } from '../config/env.js';
import { openPlatformPool, type DatabasePool } from '../db/pool.js';
import { armFailpoints } from '../failpoints.js';
import { followParentProcess } from './follow-parent.js';
import { GroupCommit } from './group-commit.js';
import { startPeriodicTask, type PeriodicTask } from './periodic-task.js';
import { lowerCpuPriority } from './niceness.js';
import { createLogger, type Logger } from '../logger.js';
import { createMetrics, startMetricsServer, type Metrics } from '../metrics.js';
import type { QueueName } from '../queues/catalog.js';
import { createJobRecordsRepository } from '../repositories/job-records.repository.js';
import type { JobView } from '../queues/job-view.js';
import { JobProducer } from '../queues/producer.js';
import { createProducerConnection, createWorkerConnection, untilReady } from '../queues/redis.js';
import { startQueueWorker, type HandlersFor } from '../queues/worker.js';

export interface WorkerRuntime<E extends WorkerEnv> {
  env: E;
  log: Logger;
  metrics: Metrics;
  platformPool: DatabasePool;
  producer: JobProducer;
  startWorker<Q extends QueueName>(queue: Q, handlers: HandlersFor<Q>): Worker;
  /**
   * Background work on a clock for the life of the process (startPeriodicTask),
   * stopped on shutdown before the pools close. `exclusive`: one run at a time
   * across every replica of this installation (an advisory lock named after
   * the task and the installation's prefixes).
   */
  every(options: { name: string; intervalMs: number; exclusive?: boolean }, task: () => Promise<unknown>): PeriodicTask;
  /** Closed on shutdown after the workers, in reverse order of registration. */
  onClose(close: () => Promise<void>): void;
}

export interface WorkerServiceOptions<S extends z.ZodTypeAny> {
  name: string;
  envSchema?: S;
  start(runtime: WorkerRuntime<z.infer<S> & WorkerEnv>): Promise<void>;
}

const SHUTDOWN_GRACE_MS = 25_000;

/**
 * The life of a worker process: parse the environment (every bad variable
 * reported at once), open what the workers need, run, and on SIGTERM/SIGINT
 * let active jobs finish before closing. A job still running when the grace
 * period ends is left to BullMQ's stalled-job check, which hands it to another
 * worker; every job is idempotent, so that is safe.
 */
export async function runWorkerService<S extends z.ZodTypeAny>(options: WorkerServiceOptions<S>): Promise<void> {
  const env = parseEnvOrExit(
    options.name,
    () => parseEnv((options.envSchema ?? workerEnvSchema) as S) as z.infer<S> & WorkerEnv,
  );
  armFailpoints(env.NODE_ENV, env.DEEPLENS_FAILPOINTS);
  const log = createLogger({ name: options.name, level: env.LOG_LEVEL });
  try {
    const threads = lowerCpuPriority(env.DEEPLENS_CPU_NICENESS);
    if (threads) log.debug({ niceness: env.DEEPLENS_CPU_NICENESS, threads }, 'CPU priority lowered');
  } catch (error) {
    log.warn(
      { err: error, niceness: env.DEEPLENS_CPU_NICENESS },
      'could not lower the CPU priority; running at normal priority',
    );
  }
  const metrics = createMetrics(options.name);
  const closers: Array<() => Promise<void>> = [];
  const workers: Worker[] = [];

  const platformPool = await openPlatformPool(env);
  closers.push(() => platformPool.end());
  const producerConnection: Redis = createProducerConnection(env.REDIS_URL);
  await untilReady(producerConnection, 3_000); // jobs that enqueue follow-ups retry while it is not
  closers.push(async () => void producerConnection.disconnect());
  const producer = new JobProducer(producerConnection, env.DEEPLENS_QUEUE_PREFIX, env);
  closers.push(() => producer.close());
  const workerConnection = createWorkerConnection(env.REDIS_URL);
  closers.push(async () => void workerConnection.disconnect());
  const jobRecords = createJobRecordsRepository(platformPool);
  // Finished jobs' records, many per statement when jobs finish together (a busy usage queue).
  // A short linger lets a stream of small finished jobs share statements, as the aggregator's groups
  // do. A record lands that much later; GET /v1/jobs/:id reads Redis first, which keeps a finished
  // job far longer.
  const archiver = new GroupCommit<JobView, void>(
    async (views) => {
      await jobRecords.saveMany(views);
      return views.map(() => undefined);
    },
    { lingerMs: 20, maxSize: 500, maxInFlight: 1 },
  );
  closers.push(() => archiver.close());

  const runtime: WorkerRuntime<typeof env> = {
    env,
    log,
    metrics,
    platformPool,
    producer,
    startWorker: (queue, handlers) => {
      const worker = startQueueWorker(queue, handlers, {
        connection: workerConnection,
        prefix: env.DEEPLENS_QUEUE_PREFIX,
        log,
        metrics,
        archive: (view) => archiver.add(view),
        concurrency: env.DEEPLENS_WORKER_CONCURRENCY,
        lockDuration: env.DEEPLENS_JOB_LOCK_MS,
        stalledInterval: env.DEEPLENS_STALLED_INTERVAL_MS,
      });
      workers.push(worker);
      return worker;
    },
    onClose: (close) => void closers.push(close),
    every: ({ name, intervalMs, exclusive }, task) => {
      const installation = `${env.DEEPLENS_DB_PREFIX}/${env.DEEPLENS_QUEUE_PREFIX}`;
      const periodic = startPeriodicTask(
        {
          name,
          intervalMs,
          log,
          ...(exclusive ? { lock: { pool: platformPool, key: `periodic/${installation}/${name}` } } : {}),
        },
        task,
      );
      closers.push(() => periodic.stop());
      return periodic;
    },
  };

  await options.start(runtime);
  const { server, port } = await startMetricsServer(metrics, env.METRICS_HOST, env.METRICS_PORT, () =>
    workers.every((worker) => worker.isRunning()),
  );
  closers.push(() => new Promise((resolve) => server.close(() => resolve())));
  log.info({ metricsPort: port, queues: workers.map((worker) => worker.name) }, `${options.name} started`);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: finishing active jobs');
    const force = setTimeout(() => {
      log.warn('grace period over: exiting with jobs still active; they will be retried elsewhere');
      process.exit(1);
    }, SHUTDOWN_GRACE_MS);
    force.unref();
    try {
      await Promise.all(workers.map((worker) => worker.close()));
      for (const close of closers.reverse()) await close().catch((error) => log.warn({ err: error }, 'close failed'));
      log.info('stopped');
      process.exit(0);
    } catch (error) {
      log.error({ err: error }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  followParentProcess();
  process.on('SIGINT', () => void shutdown('SIGINT'));
}
