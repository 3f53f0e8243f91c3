import { TEST_ADMIN_TOKEN, TEST_SERVICE_TOKEN, testEnv, uniqueName, waitForReady } from '@deeplens/shared/testing';
import type { LightMyRequestResponse } from 'fastify';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from './helpers.js';

/**
 * Rate limits by kind, as the contract says, in memory and in Redis: admin
 * tokens per token; service tokens not limited unless configured; requests
 * that fail authentication per client address, 429 after 20 in a second,
 * without ever locking out a valid token from the same address.
 */
const ADMIN_LIMIT = 5;
const token = (name: string) => `${uniqueName(name)}-0123456789abcdef`;
const admins = [token('admin-a'), token('admin-b')];
const services = [token('service-a'), token('service-b')];

async function start(overrides: Record<string, string>) {
  const api = await startTestApi(
    testEnv({
      DEEPLENS_ADMIN_TOKENS: [TEST_ADMIN_TOKEN, ...admins].join(','),
      DEEPLENS_SERVICE_TOKENS: [TEST_SERVICE_TOKEN, ...services].join(','),
      DEEPLENS_RATE_LIMIT_PER_SECOND: String(ADMIN_LIMIT),
      ...overrides,
    }),
  );
  // Until its Redis connection is up the shared limiter lets everything through; count once it is.
  await waitForReady(api, { what: 'ready' });
  return api;
}

/** A request as it would arrive from `address` (inject sends nothing over the network). */
function from(api: TestApi, address: string, url: string, authorization?: string): Promise<LightMyRequestResponse> {
  return api.app.inject({
    method: 'GET',
    url,
    remoteAddress: address,
    headers: authorization ? { authorization } : {},
  });
}

const statuses = (answers: LightMyRequestResponse[]) => answers.map((answer) => answer.statusCode).sort();
const burst = (count: number, send: (index: number) => Promise<LightMyRequestResponse>) =>
  Promise.all(Array.from({ length: count }, (_, index) => send(index)));

describe.each([
  { store: 'memory', shared: 'false' },
  { store: 'redis', shared: 'true' },
])('rate limits by kind, counted in $store', ({ shared }) => {
  let api: TestApi;
  let redis: Redis;
  let quota: string;

  beforeAll(async () => {
    api = await start({ DEEPLENS_RATE_LIMIT_SHARED: shared });
    redis = new Redis(api.env.REDIS_URL!);
    const created = await api.call('POST', '/v1/tenants', { body: { name: uniqueName('ratekinds') } });
    expect(created.statusCode).toBe(202);
    quota = `/v1/tenants/${created.json().tenantId}/quota`;
  });
  afterAll(async () => {
    await api?.close();
    redis?.disconnect();
  });

  it('answers the 21st request with a bad token from one address in a second 429, while a valid token from it is served', async () => {
    const flooder = '127.0.0.21';
    // No header, an unknown token, a malformed header: each failed authentication, each counted.
    const bad = [
      'Bearer not-a-known-token-0123456789',
      undefined,
      'Basic Zm9vOmJhcg==',
      `Bearer ${TEST_SERVICE_TOKEN}x`,
    ];
    const first = await burst(20, (index) => from(api, flooder, quota, bad[index % bad.length]));
    expect(statuses(first)).toEqual(Array(20).fill(401));
    expect(first[0]!.json().error.code).toBe('unauthorized');

    const limited = await from(api, flooder, quota, bad[0]);
    expect(limited.statusCode).toBe(429);
    expect(limited.json()).toEqual({
      error: {
        code: 'rate_limited',
        message: expect.stringMatching(
          /^this address made more than 20 requests without a valid token in a second; retry in 1 s$/,
        ),
      },
    });
    expect(limited.headers['retry-after']).toBe('1');

    // Valid tokens from the same address meet only their own kind's limit.
    expect((await from(api, flooder, quota, `Bearer ${TEST_SERVICE_TOKEN}`)).statusCode).toBe(200);
    expect((await from(api, flooder, '/v1/tenants?limit=1', `Bearer ${admins[0]}`)).statusCode).toBe(200);
    // Public routes are never limited; another address's failures are its own.
    expect((await from(api, flooder, '/healthz')).statusCode).toBe(200);
    expect((await from(api, '127.0.0.22', quota, bad[0])).statusCode).toBe(401);
    // The queue board's Basic password is an admin token to guess: its failures count against the address too.
    const board = await from(api, flooder, '/admin/queues', 'Basic Zm9vOmd1ZXNz');
    expect(board.statusCode).toBe(429);
    expect(board.json().error.code).toBe('rate_limited');

    if (shared === 'true') {
      const keys = await redis.keys(`${api.env.DEEPLENS_QUEUE_PREFIX}:ratelimit:*`);
      expect(keys).toContain(`${api.env.DEEPLENS_QUEUE_PREFIX}:ratelimit:address:${flooder}`);
      expect(keys.some((key) => key.includes('not-a-known-token'))).toBe(false);
    }
  });

  it('never limits a service token by default: six times the admin limit in a second, all served, nothing counted', async () => {
    const answers = await burst(ADMIN_LIMIT * 6, () => from(api, '127.0.0.31', quota, `Bearer ${services[0]}`));
    expect(statuses(answers)).toEqual(Array(ADMIN_LIMIT * 6).fill(200));
    if (shared === 'true') expect(await redis.keys(`${api.env.DEEPLENS_QUEUE_PREFIX}:ratelimit:service:*`)).toEqual([]);
  });

  it('limits each admin token on its own', async () => {
    const answers = await burst(ADMIN_LIMIT * 6, () =>
      from(api, '127.0.0.41', '/v1/tenants?limit=1', `Bearer ${admins[1]}`),
    );
    const limited = answers.filter((answer) => answer.statusCode === 429);
    expect(limited.length).toBeGreaterThan(0);
    // Even if the one-second window rolled over during the burst, at most two windows' worth passed.
    expect(answers.filter((answer) => answer.statusCode === 200).length).toBeLessThanOrEqual(2 * ADMIN_LIMIT);
    expect(limited[0]!.json().error).toEqual({
      code: 'rate_limited',
      message: expect.stringMatching(/^this token made more than 5 requests in a second/),
    });
    expect(Number(limited[0]!.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // Another admin token, from the same address, in the same second: served.
    expect((await from(api, '127.0.0.41', '/v1/tenants?limit=1', `Bearer ${TEST_ADMIN_TOKEN}`)).statusCode).toBe(200);
  });

  it('limits each service token when DEEPLENS_SERVICE_RATE_LIMIT_PER_SECOND is set', async () => {
    const limitedApi = await start({ DEEPLENS_RATE_LIMIT_SHARED: shared, DEEPLENS_SERVICE_RATE_LIMIT_PER_SECOND: '5' });
    try {
      const answers = await burst(30, () => from(limitedApi, '127.0.0.51', quota, `Bearer ${services[1]}`));
      const limited = answers.filter((answer) => answer.statusCode === 429);
      expect(limited.length).toBeGreaterThan(0);
      expect(answers.filter((answer) => answer.statusCode === 200).length).toBeLessThanOrEqual(10);
      expect(limited[0]!.json().error).toEqual({
        code: 'rate_limited',
        message: expect.stringMatching(/^this token made more than 5 requests in a second/),
      });
      expect((await from(limitedApi, '127.0.0.51', quota, `Bearer ${TEST_SERVICE_TOKEN}`)).statusCode).toBe(200);
    } finally {
      await limitedApi.close();
    }
  });
});
