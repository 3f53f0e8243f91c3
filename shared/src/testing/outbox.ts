import { baseEnvSchema, parseEnv } from '../config/env.js';
import { withDatabase } from '../db/connection-uri.js';
import { platformNames } from '../db/names.js';
import { openPool } from '../db/pool.js';
import { createLogger } from '../logger.js';
import { createOutbox, type OutboxRecorder } from '../outbox/outbox.js';
import { JobProducer } from '../queues/producer.js';
import { createProducerConnection } from '../queues/redis.js';
import type { CommonQueryMethods } from 'slonik';

/**
 * Runs `work` in a platform transaction with an outbox recorder, as a writer
 * of the installation would (the API, a worker), and publishes what it
 * recorded after the commit: for tests that look at a job or event between
 * its recording and its commit.
 */
export async function inOutboxTransaction<T>(
  env: Record<string, string>,
  work: (trx: CommonQueryMethods, record: OutboxRecorder) => Promise<T>,
): Promise<T> {
  const pool = await openPool(
    withDatabase(env.DATABASE_URL!, platformNames(env.DEEPLENS_DB_PREFIX!).platformDatabase),
    { maximumPoolSize: 2 },
  );
  const redis = createProducerConnection(env.REDIS_URL!, { enableOfflineQueue: true });
  const producer = new JobProducer(redis, env.DEEPLENS_QUEUE_PREFIX!, parseEnv(baseEnvSchema, env));
  try {
    return await createOutbox({
      pool,
      producer,
      log: createLogger({ name: 'test-outbox', level: 'warn' }),
    }).transaction(work);
  } finally {
    await producer.close();
    redis.disconnect();
    await pool.end();
  }
}
