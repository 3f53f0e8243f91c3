import type { CommonQueryMethods } from 'slonik';
import type { DatabasePool } from '../db/pool.js';
import { DEFAULT_STREAM_MAX_LENGTH, publishDomainEvents, type DomainEvent } from '../events/domain-events.js';
import { failpoint } from '../failpoints.js';
import type { Logger } from '../logger.js';
import type { JobName, JobPayload } from '../queues/catalog.js';
import type { JobView } from '../queues/job-view.js';
import type { JobProducer } from '../queues/producer.js';
import { outboxRepository, type OutboxKey, type OutboxRow } from '../repositories/outbox.repository.js';

/**
 * The one way work and facts leave a PostgreSQL transaction for Redis: catalog
 * jobs (to BullMQ) and domain events (to the stream) are recorded in the
 * outbox table inside the writer's transaction and published after it
 * commits. A job therefore never exists before the change it acts on is
 * visible, so no handler waits for its own row; and nothing committed is lost
 * when Redis fails after the commit, because the sweep publishes what is left.
 *
 * Publication is at least once: a job keeps the catalog's id (a second add of
 * a queued job is a no-op, every handler is idempotent), an event keeps its
 * id (consumers de-duplicate on it). usage.ingest does not come here: it has
 * no transaction to follow, and it is the hot path.
 */

export type { OutboxKey } from '../repositories/outbox.repository.js';

/** What a transaction records; its messages are published once it has committed. */
export interface OutboxRecorder {
  /** Records a catalog job and returns its id, known before the job reaches Redis. */
  job<N extends JobName>(name: N, payload: JobPayload<N>): Promise<string>;
  events(...events: DomainEvent[]): Promise<void>;
}

async function recordDomainEvents(
  db: CommonQueryMethods,
  queuePrefix: string,
  events: readonly DomainEvent[],
): Promise<OutboxKey[]> {
  await outboxRepository.insert(
    db,
    queuePrefix,
    events.map((event) => ({ kind: 'event', id: event.id, name: event.type, tenantId: event.tenantId, body: event })),
  );
  return events.map((event) => ({ kind: 'event', id: event.id }));
}

export interface OutboxOptions {
  pool: DatabasePool;
  producer: JobProducer;
  log: Logger;
  streamMaxLength?: number;
  /**
   * Refuse a write that records a job (503 `unavailable`, its transaction
   * rolled back) while the queue does not answer: the API tells its client to
   * retry rather than accept work that would wait for Redis in the outbox.
   * Redis failing after the commit still leaves the write accepted and its
   * jobs to the sweep.
   */
  refuseWhileQueueDown?: boolean;
}

export function createOutbox({
  pool,
  producer,
  log,
  streamMaxLength = DEFAULT_STREAM_MAX_LENGTH,
  refuseWhileQueueDown = false,
}: OutboxOptions) {
  function recorder(trx: CommonQueryMethods, keys: OutboxKey[]): OutboxRecorder {
    return {
      async job(name, payload) {
        const { jobId, data, tenantId } = producer.prepare(name, payload);
        // Where the API used to enqueue: a queue that does not answer rolls the write back.
        if (refuseWhileQueueDown) await producer.assertAnswering();
        await outboxRepository.insert(trx, producer.prefix, [{ kind: 'job', id: jobId, name, tenantId, body: data }]);
        keys.push({ kind: 'job', id: jobId });
        return jobId;
      },
      async events(...events) {
        keys.push(...(await recordDomainEvents(trx, producer.prefix, events)));
      },
    };
  }

  /** Puts claimed rows on Redis and marks those that got there; the others stay for the sweep. */
  async function publishRows(trx: CommonQueryMethods, rows: readonly OutboxRow[]): Promise<number> {
    const published: OutboxKey[] = [];
    const failures: unknown[] = [];
    const jobs = rows.filter((row) => row.kind === 'job');
    const events = rows.filter((row) => row.kind === 'event');
    await Promise.all(
      jobs.map(async (row) => {
        try {
          // The recorded id: the catalog's, which the writer already answered with.
          await producer.enqueue(row.name as JobName, row.body as never, { jobId: row.id });
          published.push(row);
        } catch (error) {
          failures.push(error);
        }
      }),
    );
    if (events.length > 0) {
      try {
        await publishDomainEvents(
          producer.connection,
          producer.prefix,
          events.map((row) => row.body as DomainEvent),
          { maxLength: streamMaxLength },
        );
        published.push(...events);
      } catch (error) {
        failures.push(error);
      }
    }
    await outboxRepository.markPublished(
      trx,
      published.map(({ kind, id }) => ({ kind, id })),
    );
    if (failures.length > 0) {
      log.warn(
        { err: failures[0], failed: failures.length },
        'outbox messages not published yet; the sweep will publish them',
      );
    }
    return published.length;
  }

  /**
   * After the commit: publishes these messages if still unpublished (rows the
   * sweep holds are skipped: it publishes them). Never throws: the write is
   * committed, and what is not published now is the sweep's.
   */
  async function publish(keys: readonly OutboxKey[]): Promise<number> {
    if (keys.length === 0) return 0;
    try {
      // Fault tests: the commit is done, the publication not.
      await failpoint('outbox.before-publish');
      return await pool.transaction(async (trx) => publishRows(trx, await outboxRepository.claim(trx, keys)));
    } catch (error) {
      log.warn(
        { err: error, messages: keys.length },
        'outbox messages committed but not published; the sweep will publish them',
      );
      return 0;
    }
  }

  return {
    /**
     * Runs `work` in a transaction with a recorder, then publishes what it
     * recorded once the transaction has committed (nothing, if it rolled back).
     */
    async transaction<T>(work: (trx: CommonQueryMethods, record: OutboxRecorder) => Promise<T>): Promise<T> {
      const keys: OutboxKey[] = [];
      const result = await pool.transaction(async (trx) => {
        keys.length = 0; // a transaction run again records again
        return work(trx, recorder(trx, keys));
      });
      await publish(keys);
      return result;
    },

    /**
     * Records events in `trx`, for writers that run their own transaction (the
     * aggregator's usage statements); they publish the keys after the commit.
     */
    recordEvents: (trx: CommonQueryMethods, events: readonly DomainEvent[]) =>
      recordDomainEvents(trx, producer.prefix, events),

    publish,

    /**
     * Publishes what a writer of this installation (queue prefix) left (it
     * died after its commit, or Redis failed it) once older than the grace
     * period. SKIP LOCKED lets replicas share the work, and leaves rows a
     * writer is publishing right now to it.
     */
    async sweep(graceMs: number): Promise<number> {
      return pool.transaction(async (trx) =>
        publishRows(trx, await outboxRepository.claimStranded(trx, producer.prefix, graceMs)),
      );
    },

    /** A job recorded but not yet on the queue, as GET /v1/jobs/:id shows it: waiting. */
    async findJob(jobId: string): Promise<JobView | null> {
      const row = await outboxRepository.findUnpublishedJob(pool, jobId);
      if (!row) return null;
      return {
        id: row.id,
        type: row.name,
        tenantId: row.tenant_id,
        state: 'waiting',
        attempts: 0,
        maxAttempts: producer.retryPolicy(row.name as JobName)?.attempts ?? 1,
        // As BullMQ shows a job no worker has touched.
        progress: 0,
        result: null,
        error: null,
        createdAt: new Date(row.created_at).toISOString(),
        startedAt: null,
        finishedAt: null,
      };
    },
  };
}

export type Outbox = ReturnType<typeof createOutbox>;
