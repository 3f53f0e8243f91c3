import { createHash } from 'node:crypto';
import { TEST_ENCRYPTION_KEY, TEST_SERVICE_TOKEN, testEnv, uniqueName } from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonDepthExceeds } from '../src/plugins/json-body.js';
import { platformQuery, startTestApi, type TestApi } from './helpers.js';

/**
 * Idempotency keeps nothing secret: request fingerprints are keyed digests,
 * a secret in an answer is replayed masked, and bodies too deep to
 * fingerprint are refused with a 400 before anything walks them.
 */
const env = testEnv();
const query = platformQuery(env);
let api: TestApi;

beforeAll(async () => {
  api = await startTestApi(env);
});
afterAll(async () => {
  await api?.close();
});

const hook = () => ({ url: `http://127.0.0.1:9/${uniqueName('hook')}`, eventTypes: ['tenant.provisioned'] });
const storedKey = async (header: string) =>
  (
    await query<{ row: string; request_hash: string }>(
      `SELECT k::text AS row, request_hash FROM idempotency_keys k WHERE key LIKE '%:' || $1`,
      [header],
    )
  )[0]!;

describe('POST /v1/webhooks with an Idempotency-Key', () => {
  it('answers the secret once; a replay gives the same id with the secret masked, and the key row holds no secret', async () => {
    const key = uniqueName('hook-key');
    const body = hook();
    const first = await api.call('POST', '/v1/webhooks', { body, headers: { 'idempotency-key': key } });
    expect(first.statusCode, first.body).toBe(201);
    const secret = first.json().secret as string;
    expect(secret).toMatch(/^whsec_/);

    const replay = await api.call('POST', '/v1/webhooks', { body, headers: { 'idempotency-key': key } });
    expect(replay.statusCode).toBe(201);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.json()).toEqual({ ...first.json(), secret: '********' });
    expect(replay.body).not.toContain(secret);

    const stored = await storedKey(key);
    expect(stored.row).not.toContain(secret);
    expect(stored.row).not.toContain(secret.slice(6)); // nor its random part alone
    // A keyed digest naming its key, not the bare SHA-256 anyone could recompute from a guessed body.
    expect(stored.request_hash.startsWith(`${TEST_ENCRYPTION_KEY.split(':')[0]}.`)).toBe(true);
    const text = `POST /v1/webhooks\n${JSON.stringify({ eventTypes: body.eventTypes, url: body.url })}`;
    expect(stored.request_hash).not.toContain(createHash('sha256').update(text).digest('hex'));
  });

  it('a key rotation within the window still replays (the digest names its key), and a different body is still a 409', async () => {
    const key = uniqueName('rotate-key');
    const body = hook();
    const first = await api.call('POST', '/v1/webhooks', { body, headers: { 'idempotency-key': key } });
    expect(first.statusCode).toBe(201);

    const rotated = await startTestApi({
      ...env,
      DEEPLENS_ENCRYPTION_KEY: `idem-k2:idempotency-second-key-0123,${TEST_ENCRYPTION_KEY}`,
    });
    try {
      const replay = await rotated.call('POST', '/v1/webhooks', {
        body: { eventTypes: body.eventTypes, url: body.url },
        headers: { 'idempotency-key': key },
      });
      expect(replay.statusCode).toBe(201);
      expect(replay.json()).toEqual({ ...first.json(), secret: '********' });
      const other = await rotated.call('POST', '/v1/webhooks', { body: hook(), headers: { 'idempotency-key': key } });
      expect(other.statusCode).toBe(409);
      expect(other.json().error.code).toBe('conflict');
    } finally {
      await rotated.close();
    }
    const subscribers = await query<{ n: number }>(
      `SELECT count(*)::int AS n FROM webhook_subscribers WHERE url = $1`,
      [body.url],
    );
    expect(subscribers[0]!.n).toBe(1);
  });
  it('a record stored before keyed digests (bare SHA-256) still replays until it expires', async () => {
    const key = uniqueName('legacy-key');
    const body = hook();
    const first = await api.call('POST', '/v1/webhooks', { body, headers: { 'idempotency-key': key } });
    expect(first.statusCode).toBe(201);
    const canonical = `POST /v1/webhooks\n${JSON.stringify({ eventTypes: body.eventTypes, url: body.url })}`;
    await query(`UPDATE idempotency_keys SET request_hash = $2 WHERE key LIKE '%:' || $1`, [
      key,
      createHash('sha256').update(canonical).digest('hex'),
    ]);
    const replay = await api.call('POST', '/v1/webhooks', { body, headers: { 'idempotency-key': key } });
    expect(replay.statusCode).toBe(201);
    expect(replay.json().id).toBe(first.json().id);
    expect(
      (await api.call('POST', '/v1/webhooks', { body: hook(), headers: { 'idempotency-key': key } })).statusCode,
    ).toBe(409);
  });
});

describe('deeply nested JSON', () => {
  const deepArrays = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
  const deepObjects = `${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}`;
  const cases: Array<[string, string, string, string | undefined]> = [
    [
      'usage events holding 100,000 nested arrays',
      '/v1/events/api-calls',
      `{"events":[${deepArrays}]}`,
      TEST_SERVICE_TOKEN,
    ],
    [
      'usage events holding 50,000 nested objects',
      '/v1/events/api-calls',
      `{"events":[${deepObjects}]}`,
      TEST_SERVICE_TOKEN,
    ],
    [
      'a storage config holding nested arrays',
      '/v1/tenants',
      `{"name":"deep-one","storage":{"provider":"nfs","config":{"mount_path":${deepArrays}}}}`,
      undefined,
    ],
    ['a body that is only nested arrays', '/v1/webhooks', deepArrays, undefined],
  ];

  it.each(cases)(
    '%s → 400 validation_failed, with or without an Idempotency-Key',
    async (_name, url, rawBody, token) => {
      for (const headers of [{}, { 'idempotency-key': uniqueName('deep') }] as Array<Record<string, string>>) {
        const response = await api.call('POST', url, {
          rawBody,
          ...(token ? { token } : {}),
          headers: { 'content-type': 'application/json', ...headers },
        });
        expect(response.statusCode, response.body).toBe(400);
        expect(response.json()).toEqual({
          error: { code: 'validation_failed', message: 'the JSON body is nested deeper than 64 levels' },
        });
      }
    },
  );

  it('still takes bodies of ordinary depth, and brackets inside strings do not count', async () => {
    expect(jsonDepthExceeds(`{"a":"${'['.repeat(500)}\\"${'{'.repeat(500)}"}`, 64)).toBe(false);
    expect(jsonDepthExceeds(`${'['.repeat(64)}${']'.repeat(64)}`, 64)).toBe(false);
    expect(jsonDepthExceeds(`${'['.repeat(65)}${']'.repeat(65)}`, 64)).toBe(true);
    const accepted = await api.call('POST', '/v1/webhooks', {
      body: { ...hook(), description: `${'['.repeat(200)} not nesting` },
    });
    expect(accepted.statusCode).toBe(201);
  });
});
