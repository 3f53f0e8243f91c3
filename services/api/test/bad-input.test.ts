import { platformNames, withClient, withDatabase } from '@deeplens/shared';
import { createHash } from 'node:crypto';
import { TEST_ADMIN_TOKEN, TEST_SERVICE_TOKEN, testEnv, uniqueName } from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from './helpers.js';

/**
 * Bad input of every kind gets a 4xx in the contract's error shape, never a
 * 500, and writes nothing. No worker runs here: accepted requests just queue.
 */
// A token of this file's own, so "nothing was written" counts only this file's writes (others run alongside).
const token = `bad-input-${uniqueName('token')}-0123456789`;
const actor = `admin:${createHash('sha256').update(token).digest('hex').slice(0, 12)}`;
const env = testEnv({ DEEPLENS_ADMIN_TOKENS: `${TEST_ADMIN_TOKEN},${token}` });
const names = platformNames(env.DEEPLENS_DB_PREFIX!);
let api: TestApi;

beforeAll(async () => {
  api = await startTestApi(env, token);
});
afterAll(async () => {
  await api?.close();
});

/** Every write of a request (tenant, storage config) commits with its audit entry, so this file's actor counts them. */
const rowCounts = () =>
  withClient(withDatabase(env.DATABASE_URL!, names.platformDatabase), async (client) => {
    const { rows } = await client.query(
      `SELECT (SELECT count(*) FROM audit_log WHERE actor = $1)::int AS audit,
              (SELECT count(*) FROM tenants WHERE id IN (SELECT tenant_id FROM audit_log WHERE actor = $1))::int AS tenants,
              (SELECT count(*) FROM tenants WHERE name IN ('valid-name', 'big-tenant', 'sneaky-one'))::int AS named`,
      [actor],
    );
    return rows[0];
  });

function expectError(response: { statusCode: number; json(): any }, status: number, code: string) {
  expect(response.statusCode).toBe(status);
  const body = response.json();
  expect(body).toEqual({
    error: { code, message: expect.any(String), ...(body.error.details ? { details: body.error.details } : {}) },
  });
  expect(body.error.message.length).toBeGreaterThan(0);
  return body.error;
}

describe('bad input on POST /v1/tenants', () => {
  const badBodies: Array<[string, unknown, RegExp]> = [
    ['a name that is not a slug', { name: 'Acme Corp' }, /body\.name/],
    ['a name that tries SQL', { name: "x'; DROP DATABASE postgres; --" }, /body\.name/],
    ['a name ending with a dash', { name: 'acme-' }, /body\.name/],
    ['a name too long', { name: `a${'b'.repeat(50)}` }, /body\.name/],
    ['a name too short', { name: 'ab' }, /body\.name/],
    ['a missing name', { plan: 'free' }, /body\.name is required/],
    ['an unknown plan', { name: 'valid-name', plan: 'platinum' }, /body\.plan/],
    ['an unknown field', { name: 'valid-name', colour: 'blue' }, /body\.colour is not a known field/],
    ['a domain that is not a hostname', { name: 'valid-name', domain: 'not a domain' }, /body\.domain/],
    ['a number for a name', { name: 42 }, /body\.name/],
    ['an array body', [{ name: 'valid-name' }], /body/],
    ['an unknown storage provider', { name: 'valid-name', storage: { provider: 'ftp', config: {} } }, /body\.storage/],
    [
      'a storage config missing a field',
      {
        name: 'valid-name',
        storage: { provider: 'aws_s3', config: { access_key: 'a', secret_key: 'b', region: 'us-east-1' } },
      },
      /body\.storage\.config\.bucket is required/,
    ],
    [
      'an ill-typed storage field',
      {
        name: 'valid-name',
        storage: {
          provider: 'minio',
          config: { endpoint: 'http://m:9000', access_key: 'a', secret_key: 'b', bucket: 'bkt', secure: 'yes' },
        },
      },
      /body\.storage\.config\.secure/,
    ],
  ];

  it.each(badBodies)('refuses %s with 400 naming the field', async (_label, body, pattern) => {
    const before = await rowCounts();
    const error = expectError(await api.call('POST', '/v1/tenants', { body }), 400, 'validation_failed');
    expect(error.message).toMatch(pattern);
    expect(await rowCounts()).toEqual(before);
  });

  it('refuses non-JSON, malformed JSON, empty and oversized bodies', async () => {
    const before = await rowCounts();
    expectError(
      await api.call('POST', '/v1/tenants', {
        rawBody: 'name=acme',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      }),
      415,
      'unsupported_media_type',
    );
    // text/plain too, which Fastify parses unless told not to, on writes and on the event intake alike.
    for (const url of ['/v1/tenants', '/v1/events/api-calls']) {
      expectError(
        await api.call('POST', url, { rawBody: '{"name":"acme"}', headers: { 'content-type': 'text/plain' } }),
        415,
        'unsupported_media_type',
      );
    }
    expectError(
      await api.call('POST', '/v1/tenants', {
        rawBody: '{"name": "acme',
        headers: { 'content-type': 'application/json' },
      }),
      400,
      'validation_failed',
    );
    expectError(
      await api.call('POST', '/v1/tenants', { rawBody: '', headers: { 'content-type': 'application/json' } }),
      400,
      'validation_failed',
    );
    const huge = JSON.stringify({ name: 'big-tenant', displayName: 'x'.repeat(1024 * 1024) });
    expectError(
      await api.call('POST', '/v1/tenants', { rawBody: huge, headers: { 'content-type': 'application/json' } }),
      413,
      'payload_too_large',
    );
    expect(await rowCounts()).toEqual(before);
  });
});

describe('auth', () => {
  it('refuses a missing, unknown or malformed token with 401', async () => {
    expectError(await api.call('GET', '/v1/tenants', { token: null }), 401, 'unauthorized');
    expectError(await api.call('GET', '/v1/tenants', { token: 'not-a-real-token-at-all' }), 401, 'unauthorized');
    expectError(
      await api.call('GET', '/v1/tenants', { token: null, headers: { authorization: 'Basic abc' } }),
      401,
      'unauthorized',
    );
  });

  it('lets a service token do nothing but events and quotas: 403 elsewhere', async () => {
    expectError(await api.call('GET', '/v1/tenants', { token: TEST_SERVICE_TOKEN }), 403, 'forbidden');
    expectError(
      await api.call('POST', '/v1/tenants', { token: TEST_SERVICE_TOKEN, body: { name: 'sneaky-one' } }),
      403,
      'forbidden',
    );
    expectError(await api.call('GET', '/v1/status', { token: TEST_SERVICE_TOKEN }), 403, 'forbidden');
  });

  it('needs no token for health, readiness and metrics', async () => {
    expect((await api.call('GET', '/healthz', { token: null })).statusCode).toBe(200);
    expect((await api.call('GET', '/readyz', { token: null })).json()).toEqual({
      status: 'ready',
      postgres: 'up',
      redis: 'up',
    });
    const metrics = await api.call('GET', '/metrics', { token: null });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.body).toContain('deeplens_http_request_duration_seconds');
  });
});

describe('lookups, patches and deletes with bad input', () => {
  it('answers unknown tenants and jobs with 404', async () => {
    expectError(await api.call('GET', '/v1/tenants/00000000-0000-4000-8000-000000000000'), 404, 'not_found');
    expectError(await api.call('GET', '/v1/tenants/no-such-tenant'), 404, 'not_found');
    expectError(await api.call('GET', "/v1/tenants/x'%20OR%201=1--"), 404, 'not_found');
    expectError(await api.call('GET', '/v1/jobs/00000000-0000-4000-8000-000000000000'), 404, 'not_found');
    expectError(await api.call('GET', '/v1/jobs/not-a-uuid'), 404, 'not_found');
    expectError(await api.call('GET', '/v1/nothing-here'), 404, 'not_found');
  });

  it('refuses bad listing parameters', async () => {
    expectError(await api.call('GET', '/v1/tenants?limit=0'), 400, 'validation_failed');
    expectError(await api.call('GET', '/v1/tenants?limit=abc'), 400, 'validation_failed');
    expectError(await api.call('GET', '/v1/tenants?status=sleeping'), 400, 'validation_failed');
    expectError(await api.call('GET', '/v1/tenants?cursor=garbage'), 400, 'validation_failed');
    expectError(await api.call('GET', '/v1/tenants?unknown=1'), 400, 'validation_failed');
  });

  it('refuses a bad patch and a delete without the right confirm, changing nothing', async () => {
    const name = uniqueName('still');
    const created = (await api.call('POST', '/v1/tenants', { body: { name } })).json();
    const before = await rowCounts();
    expectError(await api.call('PATCH', `/v1/tenants/${created.tenantId}`, { body: {} }), 400, 'validation_failed');
    expectError(
      await api.call('PATCH', `/v1/tenants/${created.tenantId}`, { body: { status: 'deleted' } }),
      400,
      'validation_failed',
    );
    expectError(
      await api.call('PATCH', `/v1/tenants/${created.tenantId}`, { body: { plan: 'gold' } }),
      400,
      'validation_failed',
    );
    // Still provisioning (no worker runs here): changes and deletes wait for it.
    expectError(
      await api.call('PATCH', `/v1/tenants/${created.tenantId}`, { body: { plan: 'premium' } }),
      409,
      'conflict',
    );
    expectError(await api.call('DELETE', `/v1/tenants/${created.tenantId}?confirm=${name}`), 409, 'conflict');
    expectError(await api.call('DELETE', `/v1/tenants/${created.tenantId}?confirm=other`), 400, 'validation_failed');
    expect(await rowCounts()).toEqual(before);
  });
});

describe('Idempotency-Key', () => {
  it('answers the same key and body with the first response, and a different body with 409', async () => {
    const key = uniqueName('key');
    const body = { name: uniqueName('idem'), plan: 'premium' };
    const first = await api.call('POST', '/v1/tenants', { body, headers: { 'idempotency-key': key } });
    expect(first.statusCode).toBe(202);
    const again = await api.call('POST', '/v1/tenants', {
      body: { plan: 'premium', name: body.name },
      headers: { 'idempotency-key': key },
    });
    expect(again.statusCode).toBe(202);
    expect(again.json()).toEqual(first.json());
    expect(again.headers.location).toBe(first.headers.location);
    expect(again.headers['idempotent-replayed']).toBe('true');

    const before = await rowCounts();
    const different = await api.call('POST', '/v1/tenants', {
      body: { name: uniqueName('other') },
      headers: { 'idempotency-key': key },
    });
    expectError(different, 409, 'conflict');
    expect(await rowCounts()).toEqual(before);
  });
});
