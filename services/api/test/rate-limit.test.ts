import { createHash } from 'node:crypto';
import { startPrivateRedis, TEST_ADMIN_TOKEN, testEnv, uniqueName, waitForReady } from '@deeplens/shared/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from './helpers.js';

/**
 * Per-token rate limiting: 429 `rate_limited` with Retry-After in the
 * contract's error shape, counted per token in Redis (so replicas share it),
 * health endpoints exempt, and a Redis that does not answer never turns a
 * request into a 500.
 */
const MAX = 5;
const other = `rate-limit-${uniqueName('other')}-0123456789`;
const env = testEnv({
  DEEPLENS_ADMIN_TOKENS: `${TEST_ADMIN_TOKEN},${other}`,
  DEEPLENS_RATE_LIMIT_PER_SECOND: String(MAX),
  DEEPLENS_RATE_LIMIT_SHARED: 'true',
});
const fingerprint = (token: string) => `admin:${createHash('sha256').update(token).digest('hex').slice(0, 12)}`;
let replicaA: TestApi;
let replicaB: TestApi;
let redis: Redis;

beforeAll(async () => {
  [replicaA, replicaB] = await Promise.all([startTestApi(env), startTestApi(env)]);
  redis = new Redis(env.REDIS_URL!);
  // Until its Redis connection is up the limiter lets everything through (skipOnError); start counting once it is.
  for (const replica of [replicaA, replicaB]) {
    await waitForReady(replica, { what: 'ready' });
  }
});
afterAll(async () => {
  await Promise.all([replicaA?.close(), replicaB?.close()]);
  redis?.disconnect();
});

describe('per-token rate limiting', () => {
  it('answers a burst beyond the limit with 429 rate_limited and Retry-After, in the error shape', async () => {
    const answers = await Promise.all(
      Array.from({ length: MAX * 6 }, () => replicaA.call('GET', '/v1/tenants?limit=1')),
    );
    const limited = answers.filter((response) => response.statusCode === 429);
    const passed = answers.filter((response) => response.statusCode === 200);
    expect(limited.length + passed.length).toBe(answers.length);
    expect(limited.length).toBeGreaterThan(0);
    // Even if the one-second window rolled over during the burst, at most two windows' worth passed.
    expect(passed.length).toBeLessThanOrEqual(2 * MAX);
    for (const response of limited) {
      expect(response.json()).toEqual({
        error: { code: 'rate_limited', message: expect.stringMatching(/more than 5 requests/) },
      });
      expect(Number(response.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    }
  });

  it('counts per token in Redis under the fingerprint, shared by every replica, never the token itself', async () => {
    const key = `${env.DEEPLENS_QUEUE_PREFIX}:ratelimit:${fingerprint(other)}`;
    // Exhaust the other token's allowance for a minute, as replica A's traffic would have done.
    await redis.set(key, 1_000_000, 'PX', 60_000);
    for (const replica of [replicaA, replicaB]) {
      const response = await replica.call('GET', '/v1/status', { token: other });
      expect(response.statusCode).toBe(429);
      expect(response.json().error.code).toBe('rate_limited');
      expect(Number(response.headers['retry-after'])).toBeGreaterThan(30);
    }
    const keys = await redis.keys(`${env.DEEPLENS_QUEUE_PREFIX}:ratelimit:*`);
    expect(keys.some((name) => name.includes(other) || name.includes(TEST_ADMIN_TOKEN))).toBe(false);
    await redis.del(key);
    expect((await replicaB.call('GET', '/v1/status', { token: other })).statusCode).toBe(200);
  });

  it("by default counts in each replica's own memory, and limits all the same", async () => {
    // The default, not an explicit 'false'; a queue prefix of its own, so any key the limiter wrote would show.
    const { DEEPLENS_RATE_LIMIT_SHARED: _shared, ...defaults } = env;
    const prefix = `${env.DEEPLENS_QUEUE_PREFIX}-local`;
    const local = await startTestApi({ ...defaults, DEEPLENS_QUEUE_PREFIX: prefix });
    try {
      const answers = await Promise.all(
        Array.from({ length: MAX * 6 }, () => local.call('GET', '/v1/tenants?limit=1')),
      );
      const limited = answers.filter((response) => response.statusCode === 429);
      expect(limited.length).toBeGreaterThan(0);
      expect(answers.filter((response) => response.statusCode === 200).length).toBeLessThanOrEqual(2 * MAX);
      expect(limited[0]!.json().error.code).toBe('rate_limited');
      expect(Number(limited[0]!.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(await redis.keys(`${prefix}:ratelimit:*`)).toEqual([]); // counted in memory, not in Redis
    } finally {
      await local.close();
    }
  });

  it('never limits health, readiness and metrics', async () => {
    const probes = await Promise.all(
      Array.from({ length: MAX * 4 }, (_, index) =>
        replicaA.call('GET', ['/healthz', '/readyz', '/metrics'][index % 3]!, {
          token: index % 2 ? TEST_ADMIN_TOKEN : null,
        }),
      ),
    );
    expect(probes.map((response) => response.statusCode)).toEqual(Array(MAX * 4).fill(200));
  });

  it('lets requests through when Redis stops answering (skipOnError): a 503 where Redis is needed, never a 500', async () => {
    const redisOfItsOwn = await startPrivateRedis();
    const replica = await startTestApi({ ...env, REDIS_URL: redisOfItsOwn.url });
    try {
      await waitForReady(replica, { what: 'ready' });
      await redisOfItsOwn.stop();
      const list = await replica.call('GET', '/v1/tenants?limit=1');
      expect(list.statusCode).toBe(200);
      const created = await replica.call('POST', '/v1/tenants', { body: { name: uniqueName('offline') } });
      expect(created.statusCode).toBe(503);
      expect(created.json().error.code).toBe('unavailable');
    } finally {
      await replica.close();
      await redisOfItsOwn.close();
    }
  });
});
