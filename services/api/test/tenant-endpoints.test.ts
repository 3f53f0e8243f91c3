import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testEnv, uniqueName } from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platformQuery, startTestApi, type TestApi } from './helpers.js';

/**
 * Issue #13 at the API: what a tenant may name as its NFS mount path and as a
 * webhook URL is checked before anything is stored (400 endpoint_forbidden /
 * validation_failed in the contract's error shape). The verifier and the
 * writers check again at use time (their own tests).
 */
const folder = mkdtempSync(join(tmpdir(), 'deeplens-api-nfs-'));
const root = join(folder, 'root');
const env = testEnv({ DEEPLENS_NFS_ROOTS: root, DEEPLENS_EGRESS_ALLOW: '127.0.0.0/8' });
let api: TestApi;
let strict: TestApi;
const query = platformQuery(env);

beforeAll(async () => {
  mkdirSync(join(root, 'a'), { recursive: true });
  mkdirSync(join(root, 'b'));
  symlinkSync('/etc', join(root, 'b', 'etc-link'));
  // No NFS roots and no loopback allowed, outside development: what a production platform with defaults does.
  [api, strict] = await Promise.all([
    startTestApi(env),
    startTestApi(testEnv({ DEEPLENS_NFS_ROOTS: '', DEEPLENS_EGRESS_ALLOW: '' })),
  ]);
});

afterAll(async () => {
  await Promise.all([api?.close(), strict?.close()]);
  rmSync(folder, { recursive: true, force: true });
});

async function insertTenant(): Promise<string> {
  const id = randomUUID();
  await query(`INSERT INTO tenants (id, name, plan, status) VALUES ($1, $2, 'free', 'active')`, [
    id,
    uniqueName('nfs'),
  ]);
  return id;
}

const putNfs = (target: TestApi, tenantId: string, mount_path: string) =>
  target.call('PUT', `/v1/tenants/${tenantId}/storage`, { body: { provider: 'nfs', config: { mount_path } } });

describe('NFS mount paths at PUT /v1/tenants/:id/storage and POST /v1/tenants', () => {
  it.each([
    ['b naming a through ..', () => `${root}/b/../a`, /must not contain "\.\." segments/],
    ['a path outside every root', () => '/etc', /does not resolve inside the folders allowed for NFS mounts/],
    [
      'a link inside the root to /etc',
      () => join(root, 'b', 'etc-link'),
      /does not resolve inside the folders allowed/,
    ],
    ["a path inside another tenant's folder", () => join(root, 'a', randomUUID()), /inside another tenant's folder/],
  ])('%s → 400 endpoint_forbidden, nothing stored', async (_what, path, message) => {
    const tenantId = await insertTenant();
    const response = await putNfs(api, tenantId, path());
    expect(response.statusCode, response.body).toBe(400);
    expect(response.json().error).toMatchObject({
      code: 'endpoint_forbidden',
      message: expect.stringMatching(message),
    });
    expect((await api.call('GET', `/v1/tenants/${tenantId}/storage`)).statusCode).toBe(404);
  });

  it('accepts a missing path inside a root without creating it (the verifier reports it not mounted)', async () => {
    const tenantId = await insertTenant();
    const response = await putNfs(api, tenantId, join(root, 'b', 'not-mounted-yet'));
    expect(response.statusCode, response.body).toBe(202);
    expect(existsSync(join(root, 'b', 'not-mounted-yet'))).toBe(false);
    expect(readdirSync(join(root, 'b'))).toEqual(['etc-link']);
  });

  it('refuses the same at POST /v1/tenants: no tenant is created', async () => {
    const name = uniqueName('nfs-post');
    const response = await api.call('POST', '/v1/tenants', {
      body: { name, storage: { provider: 'nfs', config: { mount_path: `${root}/b/../a` } } },
    });
    expect(response.statusCode, response.body).toBe(400);
    expect(response.json().error.code).toBe('endpoint_forbidden');
    expect(await query('SELECT 1 FROM tenants WHERE name = $1', [name])).toEqual([]);
  });

  it('refuses NFS altogether when no roots are configured outside development', async () => {
    const tenantId = await insertTenant();
    const response = await putNfs(strict, tenantId, join(root, 'a'));
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toMatchObject({
      code: 'endpoint_forbidden',
      message: expect.stringContaining('no DEEPLENS_NFS_ROOTS configured'),
    });
  });
});

describe('webhook URLs at POST /v1/webhooks', () => {
  const register = (target: TestApi, url: string) => target.call('POST', '/v1/webhooks', { body: { url } });

  it.each([
    'http://127.0.0.1:6379/',
    'https://127.0.0.1:6379/',
    'https://localhost/hook',
    'https://[::ffff:127.0.0.1]/',
    'https://169.254.169.254/latest',
    'https://10.0.0.5/',
  ])('%s under a strict policy → 400 endpoint_forbidden, nothing stored', async (url) => {
    const response = await register(strict, url);
    expect(response.statusCode, response.body).toBe(400);
    expect(response.json().error.code).toBe(url.startsWith('http:') ? 'validation_failed' : 'endpoint_forbidden');
    const listed = (await strict.call('GET', '/v1/webhooks')).json().items as Array<{ url: string }>;
    expect(listed.map((item) => item.url)).not.toContain(new URL(url).toString());
  });

  it('refuses plain http outside development unless DEEPLENS_EGRESS_ALLOW lists the host:port', async () => {
    const refused = await register(strict, 'http://hooks.example.com/deeplens');
    expect(refused.statusCode).toBe(400);
    expect(refused.json().error).toMatchObject({
      code: 'validation_failed',
      message: expect.stringContaining('must use https'),
    });
    const allowed = await register(api, 'http://127.0.0.1:9/allowed-by-the-operator');
    expect(allowed.statusCode, allowed.body).toBe(201);
    expect((await register(api, 'http://hooks.example.com/deeplens')).statusCode).toBe(400);
    expect((await register(strict, 'https://hooks.example.com/deeplens')).statusCode).toBe(201);
  });
});
