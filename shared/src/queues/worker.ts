import { UnrecoverableError, Worker, type BackoffStrategy, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { AppError, toErrorBody } from '../errors.js';
import { lazyChild, type Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { jobCatalog, jobNamesOf, type JobName, type JobPayload, type QueueName } from './catalog.js';
import { encodeFailure, jobViewFromBull, type JobView } from './job-view.js';

export interface JobContext {
  job: Job;
  log: Logger;
  /** 1 for the first attempt. */
  attempt: number;
  /** No retry follows a failure of this attempt: undo what must not be left half-made. */
  isFinalAttempt: boolean;
  progress: (step: string, detail?: Record<string, unknown>) => Promise<void>;
}

type JobHandler<N extends JobName> = (payload: JobPayload<N>, context: JobContext) => Promise<unknown>;

export type HandlersFor<Q extends QueueName> = {
  [N in JobName as (typeof jobCatalog)[N]['queue'] extends Q ? N : never]: JobHandler<N>;
};

export interface WorkerDeps {
  connection: Redis;
  prefix: string;
  log: Logger;
  metrics: Metrics;
  /** Keeps a finished job's record in the platform database (group-committed by the worker service). */
  archive: (view: JobView) => Promise<void>;
  concurrency: number;
  lockDuration: number;
  stalledInterval: number;
}

/** The longest a retry waits, whatever the attempt. */
const MAX_BACKOFF_MS = 10 * 60_000;

/**
 * Exponential backoff with "equal jitter": retry n waits a random time between
 * half and all of delay·2^(n-1), so jobs that failed together (every tenant on
 * one storage outage) do not all retry in the same instant.
 */
export function jitteredExponentialDelay(
  attemptsMade: number,
  delay: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(MAX_BACKOFF_MS, delay * 2 ** Math.max(0, attemptsMade - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** BullMQ calls this for the catalog's backoff types it does not know itself; -1 means no retry. */
export const catalogBackoffStrategy: BackoffStrategy = (attemptsMade, type, _error, job) => {
  const delay = (job?.opts.backoff as { delay?: number } | undefined)?.delay ?? 1_000;
  return type === 'exponential-jitter' ? jitteredExponentialDelay(attemptsMade, delay) : -1;
};

/**
 * Starts a BullMQ worker for one queue of the catalog. It refuses to start
 * unless every job name of that queue has exactly one handler, validates each
 * payload again on dequeue, turns errors into coded failures (retried only
 * when retrying can help), and archives every finished job's record.
 */
export function startQueueWorker<Q extends QueueName>(queue: Q, handlers: HandlersFor<Q>, deps: WorkerDeps): Worker {
  const expected = jobNamesOf(queue).sort();
  const given = Object.keys(handlers).sort();
  if (expected.join() !== given.join()) {
    throw new Error(`queue ${queue} needs handlers for [${expected.join(', ')}], got [${given.join(', ')}]`);
  }
  const table = handlers as unknown as Record<string, JobHandler<JobName>>;

  const worker = new Worker(
    queue,
    async (job: Job) => {
      const definition = jobCatalog[job.name as JobName];
      const handler = table[job.name];
      // Made on first use: most attempts log nothing, and a child with redaction costs per job.
      const log = lazyChild(deps.log, { queue, job: job.name, jobId: job.id, attempt: job.attemptsMade + 1 });
      if (!definition || !handler) throw new UnrecoverableError(`internal_error: no handler for job ${job.name}`);
      const parsed = definition.payload.safeParse(job.data);
      if (!parsed.success) {
        throw new UnrecoverableError(
          encodeFailure({ code: 'validation_failed', message: parsed.error.issues[0]?.message ?? 'invalid payload' }),
        );
      }
      const attempt = job.attemptsMade + 1;
      const maxAttempts = job.opts.attempts ?? 1;
      const timer = deps.metrics.jobDuration.startTimer({ queue, job: job.name });
      try {
        const result = await handler(parsed.data as never, {
          job,
          log,
          attempt,
          isFinalAttempt: attempt >= maxAttempts,
          progress: (step, detail) => job.updateProgress({ step, ...detail }),
        });
        timer({ outcome: 'completed' });
        return result ?? null;
      } catch (error) {
        timer({ outcome: 'failed' });
        const body = toErrorBody(error);
        const retryable = error instanceof AppError ? error.retryable : !(error instanceof UnrecoverableError);
        if (error instanceof AppError) log.warn({ code: body.code, retryable }, body.message);
        else log.error({ err: error }, 'job attempt failed unexpectedly');
        throw retryable ? new Error(encodeFailure(body)) : new UnrecoverableError(encodeFailure(body));
      }
    },
    {
      connection: deps.connection,
      prefix: deps.prefix,
      concurrency: deps.concurrency,
      lockDuration: deps.lockDuration,
      stalledInterval: deps.stalledInterval,
      maxStalledCount: 3,
      autorun: true,
      settings: { backoffStrategy: catalogBackoffStrategy },
    },
  );

  const archive = async (job: Job | undefined, state: 'completed' | 'failed') => {
    if (!job) return;
    const definition = jobCatalog[job.name as JobName];
    if (!definition) return;
    deps.metrics.jobsFinished.inc({ queue, job: job.name, outcome: state });
    try {
      await deps.archive(jobViewFromBull(job, state, definition.tenantOf as (data: never) => string | null));
    } catch (error) {
      deps.log.warn({ err: error, jobId: job.id }, 'could not archive the job record; Redis still holds it');
    }
  };
  worker.on('completed', (job) => void archive(job, 'completed'));
  worker.on('failed', (job) => {
    // 'failed' fires for every failed attempt; only a job with no retry left is final.
    if (job) void job.getState().then((state) => (state === 'failed' ? archive(job, 'failed') : undefined));
  });
  worker.on('error', (error) => deps.log.error({ err: error, queue }, 'worker error'));
  return worker;
}
