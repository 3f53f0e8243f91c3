import { baseEnvSchema, parseEnv } from '../config/env.js';
import type { JobName, JobPayload } from '../queues/catalog.js';
import { JobProducer } from '../queues/producer.js';
import { createProducerConnection } from '../queues/redis.js';

/**
 * Adds a job straight to the queue, the way a reconciler does, outside any
 * API call: for tests that replay an old or forged job. Returns the job id.
 */
export async function enqueueJob<N extends JobName>(
  env: Record<string, string>,
  name: N,
  payload: JobPayload<N>,
): Promise<string> {
  const redis = createProducerConnection(env.REDIS_URL!, { enableOfflineQueue: true });
  const producer = new JobProducer(redis, env.DEEPLENS_QUEUE_PREFIX!, parseEnv(baseEnvSchema, env));
  try {
    return await producer.enqueue(name, payload);
  } finally {
    await producer.close();
    redis.disconnect();
  }
}
