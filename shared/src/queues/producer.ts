import { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { AppError, unavailable, validationFailed } from '../errors.js';
import { jobCatalog, queueNames, type JobName, type JobPayload, type QueueName } from './catalog.js';
import { jobViewFromBull, type JobView } from './job-view.js';
import { untilReady } from './redis.js';

async function queueUnavailableOnFailure<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw unavailable('the job queue is unavailable; nothing was changed, try again shortly');
  }
}

/**
 * Enqueues catalog jobs. The payload is validated against the catalog before
 * it reaches Redis; the job id comes from the catalog, so asking twice for the
 * same tenant's provisioning finds the first job instead of adding another.
 */
export class JobProducer {
  private readonly queues: Record<QueueName, Queue>;

  constructor(
    readonly connection: Redis,
    readonly prefix: string,
  ) {
    this.queues = Object.fromEntries(
      queueNames.map((name) => [name, new Queue(name, { connection, prefix })]),
    ) as Record<QueueName, Queue>;
  }

  queue(name: QueueName): Queue {
    return this.queues[name];
  }

  /**
   * Adds a job. A Redis that does not answer becomes `unavailable` (503), so a
   * caller enqueueing inside a transaction rolls back and tells its client to retry.
   */
  async enqueue<N extends JobName>(name: N, payload: JobPayload<N>, options: { jobId?: string } = {}): Promise<string> {
    const definition = jobCatalog[name];
    const parsed = definition.payload.safeParse(payload);
    if (!parsed.success) throw validationFailed(`invalid ${name} payload: ${parsed.error.issues[0]?.message}`);
    const jobId = options.jobId ?? definition.jobId(parsed.data as never);
    return queueUnavailableOnFailure(() => this.add(name, definition, parsed.data, jobId));
  }

  private async add<N extends JobName>(
    name: N,
    definition: (typeof jobCatalog)[N],
    data: unknown,
    jobId: string,
  ): Promise<string> {
    // BullMQ would wait for a connection that was never made (an API started
    // while Redis is down); the contract wants 503 within a second, like any
    // outage. A connection still opening gets a moment to finish.
    if (this.connection.status !== 'ready' && !(await untilReady(this.connection, 300))) {
      throw unavailable('the job queue is unavailable; nothing was changed, try again shortly');
    }
    const queue = this.queues[definition.queue];
    const job = await queue.add(name, data, {
      jobId,
      attempts: definition.attempts,
      backoff: definition.backoff,
      ...definition.retention,
    });
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
      const parsed = definition.payload.parse(payload);
      return {
        name,
        data: parsed,
        opts: {
          jobId: definition.jobId(parsed as never),
          attempts: definition.attempts,
          backoff: definition.backoff,
          ...definition.retention,
        },
      };
    });
    const added = await queueUnavailableOnFailure(() => this.queues[definition.queue].addBulk(jobs));
    return added.map((job) => job.id!);
  }

  /** The live view of a job, from whichever queue holds it; null when Redis no longer has it. */
  async find(jobId: string): Promise<JobView | null> {
    for (const name of queueNames) {
      const queue = this.queues[name];
      let job = await Job.fromId(queue, jobId);
      if (!job) continue;
      let state = await job.getState();
      // The job's fields and its state are two reads; a worker may move the job
      // between them (a failure becoming a delayed retry, a completion). Read
      // again until both reads agree, so a view never shows a state without its
      // error or result.
      for (let tries = 0; tries < 3; tries += 1) {
        const again = await Job.fromId(queue, jobId);
        const stateAgain = again ? await again.getState() : state;
        if (!again || (stateAgain === state && again.processedOn === job.processedOn && again.finishedOn === job.finishedOn && again.failedReason === job.failedReason)) break;
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
