import { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { AppError, unavailable, validationFailed } from '../errors.js';
import {
  jobCatalog,
  jobNames,
  queueNames,
  type JobName,
  type JobPayload,
  type QueueName,
  type RetryPolicy,
  type RetryPolicyEnv,
} from './catalog.js';
import { jobViewFromBull, type JobView } from './job-view.js';
import { untilReady } from './redis.js';

/**
 * A job view read as two reads (the job's fields, then its state) can straddle
 * a worker's move: a retry shown as 'delayed' before its error was read, a
 * completion without its end time. These are the combinations one consistent
 * read never gives.
 */
function looksTorn(job: Job, state: string): boolean {
  const finished = job.finishedOn != null;
  if (state === 'completed' || state === 'failed') return !finished;
  if (state === 'delayed' && !job.failedReason) return true;
  return finished && (state === 'active' || state === 'waiting' || state === 'delayed');
}

/**
 * Enqueues catalog jobs. The payload is validated against the catalog before
 * it reaches Redis; the job id comes from the catalog, so asking twice for the
 * same tenant's provisioning finds the first job instead of adding another.
 */
export class JobProducer {
  private readonly queues: Record<QueueName, Queue>;
  /** Each job's retry policy, read once from the producer's parsed environment. */
  private readonly retries: Record<JobName, RetryPolicy>;

  constructor(
    readonly connection: Redis,
    readonly prefix: string,
    env: RetryPolicyEnv,
  ) {
    this.queues = Object.fromEntries(
      queueNames.map((name) => [name, new Queue(name, { connection, prefix })]),
    ) as Record<QueueName, Queue>;
    this.retries = Object.fromEntries(jobNames.map((name) => [name, jobCatalog[name].retry(env)])) as Record<
      JobName,
      RetryPolicy
    >;
  }

  queue(name: QueueName): Queue {
    return this.queues[name];
  }

  /**
   * A job as it will be added: its payload checked against the catalog and its
   * id derived by the catalog. The outbox records this in the writer's
   * transaction, so the id can be answered before the job reaches Redis.
   */
  prepare<N extends JobName>(
    name: N,
    payload: JobPayload<N>,
  ): { jobId: string; data: JobPayload<N>; tenantId: string | null } {
    const definition = jobCatalog[name];
    const parsed = definition.payload.safeParse(payload);
    if (!parsed.success) throw validationFailed(`invalid ${name} payload: ${parsed.error.issues[0]?.message}`);
    const data = parsed.data as JobPayload<N>;
    return { jobId: definition.jobId(data as never), data, tenantId: definition.tenantOf(data as never) };
  }

  /** The attempts and backoff this producer gives the job. */
  retryPolicy(name: JobName): RetryPolicy {
    return this.retries[name];
  }

  /**
   * Adds a job (for the outbox, under the id it recorded). A Redis that does
   * not answer becomes `unavailable` (503).
   */
  async enqueue<N extends JobName>(name: N, payload: JobPayload<N>, options: { jobId?: string } = {}): Promise<string> {
    const definition = jobCatalog[name];
    const prepared = this.prepare(name, payload);
    return this.whenQueueAnswers(() => this.add(name, definition, prepared.data, options.jobId ?? prepared.jobId));
  }

  /**
   * Fails with `unavailable` (503) unless the queue answers now: a writer that
   * needs the queue refuses before it changes anything, rather than accept
   * work it could only leave in the outbox until Redis is back.
   */
  async assertAnswering(): Promise<void> {
    await this.whenQueueAnswers(async () => undefined);
  }

  private async add<N extends JobName>(
    name: N,
    definition: (typeof jobCatalog)[N],
    data: unknown,
    jobId: string,
  ): Promise<string> {
    const queue = this.queues[definition.queue];
    const job = await queue.add(name, data, { jobId, ...this.retries[name], ...definition.retention });
    if ('rerunsFailed' in definition && definition.rerunsFailed) {
      const existing = await Job.fromId(queue, jobId);
      if (existing && (await existing.getState()) === 'failed') {
        await existing.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
      }
    }
    return job.id ?? jobId;
  }

  async enqueueMany<N extends JobName>(name: N, payloads: Array<JobPayload<N>>): Promise<string[]> {
    const definition = jobCatalog[name];
    const jobs = payloads.map((payload) => {
      const { jobId, data } = this.prepare(name, payload);
      return { name, data, opts: { jobId, ...this.retries[name], ...definition.retention } };
    });
    const added = await this.whenQueueAnswers(() => this.queues[definition.queue].addBulk(jobs));
    return added.map((job) => job.id!);
  }

  /**
   * Runs a write to the queue, or answers 503 (`unavailable`): when Redis
   * fails it, and at once when the connection was never made (an API started
   * while Redis is down), where BullMQ would wait for it; a connection still
   * opening gets a moment to finish.
   */
  private async whenQueueAnswers<T>(work: () => Promise<T>): Promise<T> {
    const failure = () => unavailable('the job queue is unavailable; nothing was changed, try again shortly');
    if (this.connection.status !== 'ready' && !(await untilReady(this.connection, 300))) throw failure();
    try {
      return await work();
    } catch (error) {
      if (error instanceof AppError) throw error;
      throw failure();
    }
  }

  /** The live view of a job, from whichever queue holds it; null when Redis no longer has it. */
  async find(jobId: string): Promise<JobView | null> {
    for (const name of queueNames) {
      const queue = this.queues[name];
      let job = await Job.fromId(queue, jobId);
      if (!job) continue;
      let state = await job.getState();
      // A torn read (see looksTorn) is read again until both reads agree, so a view never
      // shows a state without its error or result; a consistent one costs no extra reads.
      for (let tries = 0; tries < 3 && looksTorn(job, state); tries += 1) {
        const again = await Job.fromId(queue, jobId);
        const stateAgain = again ? await again.getState() : state;
        if (
          !again ||
          (stateAgain === state &&
            again.processedOn === job.processedOn &&
            again.finishedOn === job.finishedOn &&
            again.failedReason === job.failedReason)
        )
          break;
        job = again;
        state = stateAgain;
      }
      const definition = jobCatalog[job.name as JobName];
      if (!definition) throw new AppError('internal_error', `job ${jobId} has an unknown name`);
      return jobViewFromBull(job, state, definition.tenantOf as (data: never) => string | null);
    }
    return null;
  }

  async counts(): Promise<Record<QueueName, Record<string, number>>> {
    const entries = await Promise.all(
      queueNames.map(async (name) => [
        name,
        await this.queues[name].getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized'),
      ]),
    );
    return Object.fromEntries(entries) as Record<QueueName, Record<string, number>>;
  }

  async close(): Promise<void> {
    await Promise.all(Object.values(this.queues).map((queue) => queue.close()));
  }
}
