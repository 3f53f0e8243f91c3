import { platformNames, withClient, withDatabase } from '@deeplens/shared';
import { createHash } from 'node:crypto';
import { TEST_ADMIN_TOKEN, testEnv, testSeed, uniqueName, waitForReady } from '@deeplens/shared/testing';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from './helpers.js';

/**
 * Hostile input, property-based: for every route under /v1 (read from the route
 * table, so new routes are covered), random and adversarial ids, query strings,
 * headers and bodies never produce a 5xx, every refusal has the contract's
 * error shape, and nothing is written: neither the platform rows this file's
 * own admin token could have touched, nor a job in this file's queues.
 */
const token = `hostile-${uniqueName('token')}-0123456789`;
const actor = `admin:${createHash('sha256').update(token).digest('hex').slice(0, 12)}`;
const env = testEnv({
  DEEPLENS_ADMIN_TOKENS: `${TEST_ADMIN_TOKEN},${token}`,
  DEEPLENS_RATE_LIMIT_PER_SECOND: '100000',
});
const names = platformNames(env.DEEPLENS_DB_PREFIX!);
const RUNS = Number(process.env.DEEPLENS_HOSTILE_RUNS ?? 120);
// Printed at start; DEEPLENS_HOSTILE_SEED=<seed> replays a run.
const SEED = testSeed('DEEPLENS_HOSTILE_SEED');
let api: TestApi;
let redis: Redis;
let routes: Array<{ method: string; url: string }>;

beforeAll(async () => {
  api = await startTestApi(env, token);
  redis = new Redis(env.REDIS_URL!);
  await waitForReady(api, { what: 'the API ready' });
  routes = routeTable(api.app.printRoutes({ commonPrefix: false })).filter(
    (route) => route.url.startsWith('/v1/') && route.method !== 'HEAD',
  );
});
afterAll(async () => {
  await api?.close();
  redis?.disconnect();
});

function routeTable(printed: string): Array<{ method: string; url: string }> {
  const stack: string[] = [];
  const table: Array<{ method: string; url: string }> = [];
  for (const line of printed.split('\n')) {
    const match = /^((?:[│ ] {3})*)[├└]── (.*?) \(([A-Z, ]+)\)$/.exec(line);
    if (!match) continue;
    stack.length = match[1]!.length / 4;
    const url = `${stack.join('')}${match[2]}`;
    stack.push(match[2]!);
    for (const method of match[3]!.split(', ')) table.push({ method, url });
  }
  return table;
}

/** What this file's token could have changed: its audit entries, the tenants and storage configs they name, its idempotency keys, its Redis keys. */
const digest = () =>
  withClient(withDatabase(env.DATABASE_URL!, names.platformDatabase), async (client) => {
    const { rows } = await client.query(
      `WITH mine AS (SELECT DISTINCT tenant_id FROM audit_log WHERE actor = $1)
       SELECT md5(coalesce((SELECT string_agg(a::text, '|' ORDER BY a.id) FROM audit_log a WHERE actor = $1), '')) AS audit,
              md5(coalesce((SELECT string_agg(t::text, '|' ORDER BY t.id) FROM tenants t WHERE id IN (SELECT tenant_id FROM mine)), '')) AS tenants,
              md5(coalesce((SELECT string_agg(s::text, '|' ORDER BY s.tenant_id) FROM tenant_storage_configs s WHERE tenant_id IN (SELECT tenant_id FROM mine)), '')) AS storage,
              -- A refused request's answer is kept under its Idempotency-Key and replayed (by design); a key left
              -- pending, or one recording a success, would mean a request got further than it should have.
              (SELECT count(*) FROM idempotency_keys WHERE principal = $1 AND (state = 'pending' OR status_code < 400))::int AS idempotency`,
      [actor],
    );
    // Jobs and metering state in this file's Redis namespace (the limiter's own counters aside).
    const keys = (await redis.keys(`${env.DEEPLENS_QUEUE_PREFIX}:*`))
      .filter((key) => !key.includes(':ratelimit:'))
      .sort();
    return { ...rows[0], redisKeys: keys };
  });

const nasty = fc.constantFrom(
  "' OR 1=1--",
  "x'); DROP TABLE tenants; --",
  '"; DROP DATABASE postgres; --',
  '../../../etc/passwd',
  '..%2F..%2F',
  '%00',
  '\u0000',
  '\uFEFF',
  '😀'.repeat(40),
  'a'.repeat(5000),
  '-1',
  '1e309',
  'NaN',
  'null',
  'undefined',
  '__proto__',
  'constructor',
  '$where',
  '00000000-0000-0000-0000-000000000000',
  'ffffffff-ffff-ffff-ffff-ffffffffffff',
  'tenant_x_metadata',
  'postgres',
);
const text = fc.oneof(fc.string({ maxLength: 80 }), fc.string({ unit: 'grapheme', maxLength: 40 }), nasty);
const idSegment = fc.oneof(
  fc.uuid(),
  text.filter((value) => value.length > 0),
  fc.stringMatching(/^[a-z][a-z0-9-]{1,30}[a-z0-9]$/),
);
const query = fc.dictionary(
  fc.oneof(fc.constantFrom('limit', 'cursor', 'plan', 'status', 'confirm', 'month', '__proto__'), text),
  fc.oneof(text, fc.integer().map(String)),
  { maxKeys: 4 },
);
const headerText = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)),
  maxLength: 200,
});
const headers = fc.record(
  {
    'content-type': fc.oneof(
      fc.constantFrom(
        'application/json',
        'application/json; charset=utf-8',
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/json; charset=utf-16',
      ),
      headerText,
    ),
    'idempotency-key': headerText,
    'x-request-id': headerText,
    accept: headerText,
  },
  { requiredKeys: [] },
);
const storageProvider = fc.constantFrom('azure_blob', 'aws_s3', 'gcs', 'minio', 'nfs', 'smb', 'ftp');
const nearValid = fc.oneof(
  fc.record(
    {
      name: idSegment,
      displayName: fc.anything(),
      domain: text,
      plan: fc.oneof(text, fc.constantFrom('free', 'premium')),
      storage: fc.anything(),
      extra: fc.anything(),
    },
    { requiredKeys: ['extra'] },
  ),
  fc.record({
    provider: storageProvider,
    config: fc.dictionary(
      fc.constantFrom(
        'access_key',
        'secret_key',
        'bucket',
        'region',
        'endpoint',
        'connection_string',
        'container',
        'mount_path',
        'share_path',
        'password',
      ),
      fc.anything(),
    ),
  }),
  fc.record({
    events: fc.array(
      fc.record({
        eventId: fc.oneof(fc.uuid(), text),
        tenantId: fc.oneof(fc.uuid(), text),
        statusCode: fc.anything(),
        durationMs: fc.double(),
        occurredAt: text,
      }),
      { maxLength: 5 },
    ),
  }),
  fc.record(
    {
      plan: fc.anything(),
      status: fc.oneof(text, fc.constantFrom('deleted', 'active')),
      url: text,
      events: fc.anything(),
    },
    { requiredKeys: [] },
  ),
);
const body = fc.oneof(
  fc.constant(undefined),
  fc.anything().map((value) => ({ raw: JSON.stringify(value) ?? 'null' })),
  fc.json().map((raw) => ({ raw })),
  fc.string({ maxLength: 200 }).map((raw) => ({ raw })),
  nearValid.map((value) => ({ raw: JSON.stringify(value) })),
  fc
    .constantFrom(
      '{"__proto__": {"admin": true}}',
      '{"constructor": {"prototype": {"x": 1}}}',
      '{"name": "a", "name": "b"}',
      '[',
      `{"a":${'['.repeat(5000)}`,
      '\u0000',
    )
    .map((raw) => ({ raw })),
);

const errorShape = (payload: unknown) => {
  const error = (payload as { error?: Record<string, unknown> })?.error;
  return (
    !!error &&
    Object.keys(payload as object).length === 1 &&
    typeof error.code === 'string' &&
    /^[a-z]+(_[a-z]+)*$/.test(error.code) &&
    typeof error.message === 'string' &&
    error.message.length > 0 &&
    (error.details === undefined || Array.isArray(error.details)) &&
    Object.keys(error).every((key) => ['code', 'message', 'details'].includes(key))
  );
};

describe('hostile input on every /v1 route', () => {
  it('covers the contract', () => {
    const urls = routes.map((route) => `${route.method} ${route.url}`);
    for (const expected of [
      'POST /v1/tenants',
      'GET /v1/tenants',
      'PATCH /v1/tenants/:id',
      'DELETE /v1/tenants/:id',
      'PUT /v1/tenants/:id/storage',
      'POST /v1/tenants/:id/storage/test',
      'GET /v1/jobs/:jobId',
      'POST /v1/events/api-calls',
      'GET /v1/tenants/:id/quota',
      'GET /v1/tenants/:id/usage',
      'GET /v1/status',
    ]) {
      expect(urls).toContain(expected);
    }
  });

  it('never answers 5xx, always refuses in the error shape, and changes nothing', async () => {
    const before = await digest();
    const accepted: string[] = [];
    for (const route of routes) {
      await fc.assert(
        fc.asyncProperty(
          fc.array(idSegment, { minLength: 3, maxLength: 3 }),
          query,
          headers,
          body,
          async (ids, search, extraHeaders, payload) => {
            let index = 0;
            const path = route.url.replace(/:[A-Za-z]+/g, () => encodeURIComponent(ids[index++ % ids.length]!));
            const qs = new URLSearchParams(search).toString();
            const response = await api.app.inject({
              method: route.method as 'GET',
              url: `${path}${qs ? `?${qs}` : ''}`,
              headers: { ...extraHeaders, authorization: `Bearer ${token}` },
              ...(payload ? { payload: payload.raw } : {}),
            });
            const where = `${route.method} ${route.url} → ${response.statusCode} ${response.body.slice(0, 200)}`;
            expect(response.statusCode, where).toBeLessThan(500);
            if (response.statusCode >= 400) expect(errorShape(JSON.parse(response.body)), where).toBe(true);
            else if (route.method !== 'GET') accepted.push(where);
          },
        ),
        { numRuns: RUNS, seed: SEED },
      );
    }
    // Random input could in principle form a valid write; none did, so nothing may have changed.
    expect(accepted).toEqual([]);
    expect(await digest()).toEqual(before);
  }, 600_000);
});
