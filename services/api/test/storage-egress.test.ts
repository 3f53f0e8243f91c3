import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCountingListener, testEnv, uniqueName } from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platformQuery, startTestApi, type TestApi } from './helpers.js';

/**
 * The API refuses, before anything is stored, a storage config that names a
 * refused address literally (400 endpoint_forbidden) and a GCS key that is not
 * a service-account key (400 validation_failed naming the field). The policy
 * here is production's: DEEPLENS_EGRESS_ALLOW empty, so loopback is refused too.
 */

const env = testEnv({ DEEPLENS_EGRESS_ALLOW: '' });
const query = platformQuery(env);
let api: TestApi;
let internal: Awaited<ReturnType<typeof startCountingListener>>;
let environDir: string;
let environFile: string;
const MARKER = 'postgres://marker-superuser:marker-password@db/postgres';

beforeAll(async () => {
  [api, internal] = await Promise.all([startTestApi(env), startCountingListener()]);
  environDir = await mkdtemp(join(tmpdir(), 'deeplens-environ-'));
  environFile = join(environDir, 'environ');
  await writeFile(environFile, `DATABASE_URL=${MARKER}\0DEEPLENS_ENCRYPTION_KEY=marker-key\0`);
});
afterAll(async () => {
  await Promise.all([api?.close(), internal?.stop()]);
  if (environDir) await rm(environDir, { recursive: true, force: true });
});

const key = (fields: Record<string, unknown>) =>
  JSON.stringify({
    type: 'service_account',
    client_email: 'a@p.iam.gserviceaccount.com',
    private_key: 'PEM',
    ...fields,
  });
const s3 = (endpoint: string) => ({
  provider: 'aws_s3',
  config: {
    access_key: 'AKIAEGRESS0000000001',
    secret_key: 'egress-secret-key',
    region: 'us-east-1',
    bucket: 'deeplens-egress',
    endpoint,
  },
});
const azure = (connection: string) => ({
  provider: 'azure_blob',
  config: { connection_string: connection, container: 'deeplens-egress' },
});
const gcs = (serviceAccountKey: string, apiEndpoint?: string) => ({
  provider: 'gcs',
  config: {
    service_account_key: serviceAccountKey,
    bucket: 'deeplens-egress',
    project_id: 'p',
    ...(apiEndpoint ? { api_endpoint: apiEndpoint } : {}),
  },
});

const refused: Array<[string, unknown]> = [
  ['S3 endpoint on Redis (127.0.0.1:6379)', s3('http://127.0.0.1:6379')],
  ['S3 endpoint on the metadata service', s3('http://169.254.169.254/latest/meta-data/')],
  ['S3 endpoint as an IPv4-mapped IPv6 loopback', s3('http://[::ffff:127.0.0.1]:9000')],
  [
    'MinIO host:port on a private address',
    {
      provider: 'minio',
      config: {
        endpoint: '10.0.0.5:9000',
        secure: false,
        access_key: 'a',
        secret_key: 'egress-secret-key',
        bucket: 'deeplens-egress',
      },
    },
  ],
  [
    'MinIO endpoint named localhost',
    {
      provider: 'minio',
      config: {
        endpoint: 'http://localhost:9000',
        access_key: 'a',
        secret_key: 'egress-secret-key',
        bucket: 'deeplens-egress',
      },
    },
  ],
  [
    'Azure BlobEndpoint on a private address',
    azure('DefaultEndpointsProtocol=http;AccountName=a;AccountKey=a2V5;BlobEndpoint=http://192.168.1.10:10000/a;'),
  ],
  ['Azure UseDevelopmentStorage=true (loopback)', azure('UseDevelopmentStorage=true')],
  ['GCS api_endpoint on CGNAT', gcs(key({}), 'http://100.64.0.1')],
  ['GCS token_uri on loopback', gcs(key({ token_uri: 'http://127.0.0.1:8080/token' }))],
];

async function pendingTenant(): Promise<string> {
  const created = await api.call('POST', '/v1/tenants', { body: { name: uniqueName('egress') } });
  expect(created.statusCode, created.body).toBe(202);
  return created.json().tenantId;
}

const storedConfigs = async (tenantId: string) =>
  (
    await query<{ n: number }>('SELECT count(*)::int AS n FROM tenant_storage_configs WHERE tenant_id = $1', [tenantId])
  )[0]!.n;

describe('PUT /v1/tenants/:id/storage and POST /v1/tenants refuse refused addresses named literally', () => {
  it.each(refused)('%s: 400 endpoint_forbidden, nothing stored', async (_what, storage) => {
    const tenantId = await pendingTenant();
    const put = await api.call('PUT', `/v1/tenants/${tenantId}/storage`, { body: storage });
    expect(put.statusCode, put.body).toBe(400);
    expect(put.json().error.code).toBe('endpoint_forbidden');
    expect(put.json().error.message).toContain('DEEPLENS_EGRESS_ALLOW');
    expect(put.json().error.message).not.toContain('egress-secret-key');
    expect(await storedConfigs(tenantId)).toBe(0);

    const name = uniqueName('egress');
    const created = await api.call('POST', '/v1/tenants', { body: { name, storage } });
    expect(created.statusCode, created.body).toBe(400);
    expect(created.json().error.code).toBe('endpoint_forbidden');
    expect((await api.call('GET', `/v1/tenants/${name}`)).statusCode).toBe(404);
  });

  it('accepts a public host name: it is resolved and checked at each connection instead', async () => {
    const tenantId = await pendingTenant();
    const put = await api.call('PUT', `/v1/tenants/${tenantId}/storage`, { body: s3('https://s3.example.com') });
    expect(put.statusCode, put.body).toBe(202);
  });
});

describe('GCS keys: only service-account keys', () => {
  const externalAccount = () =>
    JSON.stringify({
      type: 'external_account',
      audience: '//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x',
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      token_url: `http://127.0.0.1:${internal.port}/token`,
      credential_source: { file: environFile },
    });
  const others: Array<[string, () => string, string]> = [
    [
      'external_account reading a fake environ file, token_url on a loopback listener',
      externalAccount,
      'is of type "external_account"',
    ],
    [
      'authorized_user',
      () => JSON.stringify({ type: 'authorized_user', client_id: 'c', client_secret: 's', refresh_token: 'r' }),
      'is of type "authorized_user"',
    ],
    [
      'impersonated_service_account',
      () =>
        JSON.stringify({
          type: 'impersonated_service_account',
          service_account_impersonation_url: `http://127.0.0.1:${internal.port}/x`,
          source_credentials: {},
        }),
      'is of type "impersonated_service_account"',
    ],
    [
      'a service account without client_email',
      () => JSON.stringify({ type: 'service_account', private_key: 'PEM' }),
      'lacks client_email',
    ],
    [
      'a service account without private_key',
      () => JSON.stringify({ type: 'service_account', client_email: 'a@p' }),
      'lacks private_key',
    ],
  ];

  it.each(others)(
    '%s: 400 validation_failed naming the field, nothing read or sent',
    async (_what, keyText, problem) => {
      const tenantId = await pendingTenant();
      const put = await api.call('PUT', `/v1/tenants/${tenantId}/storage`, { body: gcs(keyText()) });
      expect(put.statusCode, put.body).toBe(400);
      expect(put.json().error).toMatchObject({
        code: 'validation_failed',
        details: [{ field: 'body.config.service_account_key', message: expect.stringContaining(problem) }],
      });
      expect(await storedConfigs(tenantId)).toBe(0);

      const created = await api.call('POST', '/v1/tenants', {
        body: { name: uniqueName('egress'), storage: gcs(keyText()) },
      });
      expect(created.statusCode, created.body).toBe(400);
      expect(created.json().error.details).toEqual([
        { field: 'body.storage.config.service_account_key', message: expect.stringContaining(problem) },
      ]);
      expect(put.body + created.body).not.toContain('marker');
      expect(internal.connections()).toBe(0);
    },
  );
});
