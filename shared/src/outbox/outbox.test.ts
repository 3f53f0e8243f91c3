import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseEnvSchema, parseEnv } from '../config/env.js';
import { withDatabase } from '../db/connection-uri.js';
import { platformNames } from '../db/names.js';
import { openPool, type DatabasePool } from '../db/pool.js';
import { sql } from '../db/sql.js';
import { factEvent, readDomainEvents } from '../events/domain-events.js';
import { createLogger } from '../logger.js';
import { JobProducer } from '../queues/producer.js';
import { createProducerConnection } from '../queues/redis.js';
import { outboxRepository } from '../repositories/outbox.repository.js';
import { testEnv } from '../testing/index.js';
import { createOutbox, type Outbox } from './outbox.js';

/**
 * The outbox against the real PostgreSQL and Redis: no job or event exists
 * before its transaction commits, and what a writer left unpublished (it died
 * after its commit, or Redis failed it) is published once by the sweep.
 * Nothing works this file's queue prefix, so queued jobs stay `waiting`.
 */
const env = testEnv();
const log = createLogger({ name: 'outbox-test', level: 'silent' });
let pool: DatabasePool;
let producer: JobProducer;
let outbox: Outbox;

beforeAll(async () => {
  pool = await openPool(withDatabase(env.DATABASE_URL!, platformNames(env.DEEPLENS_DB_PREFIX!).platformDatabase), {
    maximumPoolSize: 6,
  });
  producer = new JobProducer(
    createProducerConnection(env.REDIS_URL!, { enableOfflineQueue: true }),
    env.DEEPLENS_QUEUE_PREFIX!,
    parseEnv(baseEnvSchema, env),
  );
  outbox = createOutbox({ pool, producer, log });
});
afterAll(async () => {
  await producer?.close();
  producer?.connection.disconnect();
  await pool?.end();
});

const published = (id: string) =>
  pool.maybeOneFirst(
    sql.type(
      z.object({ published: z.boolean() }),
    )`SELECT published_at IS NOT NULL AS published FROM outbox WHERE id = ${id}`,
  );

/** Jobs ever added to the provisioning queue of this prefix. */
const provisioningJobs = async () =>
  Object.values(
    await producer
      .queue('provisioning')
      .getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized'),
  ).reduce((a, b) => a + b, 0);

/** A committed row whose writer died before publishing it. */
async function strandedJob(backupId: string) {
  const { jobId, data } = producer.prepare('platform.backup', { backupId });
  await outboxRepository.insert(pool, producer.prefix, [
    { kind: 'job', id: jobId, name: 'platform.backup', tenantId: null, body: data },
  ]);
  return jobId;
}

// No grace: a sweep takes only its own installation's rows (this file's queue prefix), whatever other test files write.
const GRACE_MS = 0;

describe('the outbox', () => {
  it('puts a job on the queue only once its transaction has committed, and none when it rolls back', async () => {
    const jobId = await outbox.transaction(async (_trx, record) => {
      const recorded = await record.job('platform.backup', { backupId: randomUUID() });
      // Recorded, not committed: no worker can take it yet.
      expect(await producer.find(recorded)).toBeNull();
      return recorded;
    });
    expect(await producer.find(jobId)).toMatchObject({ id: jobId, type: 'platform.backup', state: 'waiting' });
    expect(await published(jobId)).toBe(true);

    let rolledBack = '';
    await expect(
      outbox.transaction(async (_trx, record) => {
        rolledBack = await record.job('platform.backup', { backupId: randomUUID() });
        throw new Error('the write failed');
      }),
    ).rejects.toThrow('the write failed');
    expect(await producer.find(rolledBack)).toBeNull();
    expect(await published(rolledBack)).toBeNull();
  });

  it('publishes an event after the commit, with the id it was recorded under', async () => {
    const tenantId = randomUUID();
    const event = factEvent('tenant.deprovisioned', [tenantId], tenantId, { name: 'gone', databases: [] });
    await outbox.transaction(async (_trx, record) => record.events(event));
    const onStream = await readDomainEvents(producer.connection, producer.prefix);
    expect(onStream.filter((entry) => entry.event.id === event.id).map((entry) => entry.event)).toEqual([event]);
    expect(await published(event.id)).toBe(true);
  });

  it('answers a committed job the writer never published as waiting, and the sweep queues it exactly once, however many sweep', async () => {
    const backupId = randomUUID();
    const jobId = await strandedJob(backupId);
    expect(await outbox.findJob(jobId)).toMatchObject({
      id: jobId,
      type: 'platform.backup',
      state: 'waiting',
      attempts: 0,
      maxAttempts: 3,
    });
    expect(await producer.find(jobId)).toBeNull();
    const before = await provisioningJobs();

    // Replicas sweeping at once: SKIP LOCKED hands the row to one of them.
    const swept = await Promise.all([outbox.sweep(GRACE_MS), outbox.sweep(GRACE_MS), outbox.sweep(GRACE_MS)]);
    expect(swept.reduce((a, b) => a + b, 0)).toBe(1);
    expect(await producer.find(jobId)).toMatchObject({ id: jobId, state: 'waiting', tenantId: null });
    expect(await published(jobId)).toBe(true);
    expect(await outbox.findJob(jobId)).toBeNull();
    expect(await outbox.sweep(GRACE_MS)).toBe(0);
    expect(await provisioningJobs()).toBe(before + 1);

    // Published twice all the same (a publisher that died after Redis took the job, before marking it): still one job.
    await pool.query(sql.typeAlias('void')`UPDATE outbox SET published_at = NULL WHERE kind = 'job' AND id = ${jobId}`);
    expect(await outbox.sweep(GRACE_MS)).toBe(1);
    expect(await provisioningJobs()).toBe(before + 1);
  });
});
