import { tmpdir } from 'node:os';
import { randomUUID } from 'node:crypto';
import { MASK, platformNames, withClient, withDatabase } from '@deeplens/shared';
import { testEnv, uniqueName } from '@deeplens/shared/testing';
import { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from './helpers.js';

/**
 * The storage endpoints over HTTP (in-process API, real PostgreSQL and Redis,
 * no verifier running: jobs wait in the queue, which lets us read them).
 */

const env = testEnv();
let api: TestApi;
const platformUrl = () => withDatabase(env.DATABASE_URL!, platformNames(env.DEEPLENS_DB_PREFIX!).platformDatabase);

/** A tenant row made directly, in the given state: these tests need no provisioning. */
async function insertTenant(status = 'active'): Promise<{ id: string; name: string }> {
  const tenant = { id: randomUUID(), name: uniqueName('byos') };
  await withClient(platformUrl(), (client) =>
    client.query(`INSERT INTO tenants (id, name, plan, status) VALUES ($1, $2, 'free', $3)`, [
      tenant.id,
      tenant.name,
      status,
    ]),
  );
  return tenant;
}

/** One valid config per provider, and the secret values in it. */
const samples = {
  azure_blob: {
    config: {
      connection_string:
        'DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=AZ-SECRET-Zm9vYmFyYmF6cXV4==;EndpointSuffix=core.windows.net',
      container: 'images',
      cdn_endpoint: 'https://cdn.example.com',
    },
    secrets: ['AZ-SECRET-Zm9vYmFyYmF6cXV4=='],
  },
  aws_s3: {
    config: {
      access_key: 'AKIASECRETACCESS0001',
      secret_key: 'S3-SECRET-wJalrXUtnFEMIK7MDENG',
      region: 'us-west-2',
      bucket: 'deeplens-x',
    },
    secrets: ['AKIASECRETACCESS0001', 'S3-SECRET-wJalrXUtnFEMIK7MDENG'],
  },
  gcs: {
    config: {
      service_account_key: JSON.stringify({
        type: 'service_account',
        private_key: 'GCS-SECRET-PRIVATE-KEY-0123456789',
        client_email: 'x@y.iam',
      }),
      bucket: 'deeplens-gcs',
      project_id: 'acme-project',
    },
    secrets: ['GCS-SECRET-PRIVATE-KEY-0123456789'],
  },
  minio: {
    config: {
      endpoint: 'https://minio.example.com:9000',
      access_key: 'MINIO-ACCESS-SECRET-1',
      secret_key: 'MINIO-SECRET-KEY-1',
      bucket: 'tenant-bucket',
      secure: true,
    },
    secrets: ['MINIO-ACCESS-SECRET-1', 'MINIO-SECRET-KEY-1'],
  },
  nfs: {
    config: { mount_path: `${tmpdir()}/tenant-storage`, share_path: 'nfs.example.com:/exports/images' },
    secrets: [],
  },
  smb: {
    config: {
      share_path: '//fileserver/tenant-images',
      username: 'storageuser',
      password: 'SMB-SECRET-PASSWORD-1',
      port: 445,
    },
    secrets: ['SMB-SECRET-PASSWORD-1'],
  },
} as const;

const secretNames: Record<string, string[]> = {
  azure_blob: ['connection_string'],
  aws_s3: ['access_key', 'secret_key'],
  gcs: ['service_account_key'],
  minio: ['access_key', 'secret_key'],
  nfs: [],
  smb: ['password'],
};

beforeAll(async () => {
  api = await startTestApi(env);
});

afterAll(async () => {
  await api?.close();
});

describe('PUT /v1/tenants/:id/storage', () => {
  it.each(Object.keys(samples) as Array<keyof typeof samples>)(
    '%s: 202 with a job, stored encrypted, shown masked, job payload holds ids only',
    async (provider) => {
      const tenant = await insertTenant();
      const { config, secrets } = samples[provider];
      const put = await api.call('PUT', `/v1/tenants/${tenant.id}/storage`, { body: { provider, config } });
      expect(put.statusCode, put.body).toBe(202);
      const { jobId } = put.json();
      expect(put.headers.location).toBe(`/v1/jobs/${jobId}`);
      for (const secret of secrets) expect(put.body).not.toContain(secret);

      const got = await api.call('GET', `/v1/tenants/${tenant.name}/storage`);
      expect(got.statusCode).toBe(200);
      const view = got.json();
      expect(view).toMatchObject({
        provider,
        status: 'verifying',
        lastTestedAt: null,
        lastError: null,
        version: 1,
        history: [],
        steps: [],
      });
      const expected: Record<string, unknown> = { ...config };
      for (const field of secretNames[provider]!) expected[field] = MASK;
      expect(view.config).toEqual(expected);
      for (const secret of secrets) expect(got.body).not.toContain(secret);

      const tenantView = (await api.call('GET', `/v1/tenants/${tenant.id}`)).json();
      expect(tenantView.storage).toEqual({ provider, status: 'verifying', lastTestedAt: null, lastError: null });

      const job = await Job.fromId(api.deps.producer.queue('storage'), jobId);
      expect(job?.name).toBe('storage.verify');
      expect(Object.keys(job!.data).sort()).toEqual(['configVersion', 'reason', 'requestId', 'tenantId']);
      expect(job!.data).toMatchObject({ tenantId: tenant.id, configVersion: 1, reason: 'changed' });
      for (const secret of secrets) expect(JSON.stringify(job!.asJSON())).not.toContain(secret);
    },
  );

  it('bumps the version on every change and the job names the new version', async () => {
    const tenant = await insertTenant();
    await api.call('PUT', `/v1/tenants/${tenant.id}/storage`, {
      body: { provider: 'nfs', config: { mount_path: `${tmpdir()}/a` } },
    });
    const second = await api.call('PUT', `/v1/tenants/${tenant.id}/storage`, {
      body: { provider: 'aws_s3', config: samples.aws_s3.config },
    });
    const job = await Job.fromId(api.deps.producer.queue('storage'), second.json().jobId);
    expect(job!.data.configVersion).toBe(2);
    expect((await api.call('GET', `/v1/tenants/${tenant.id}/storage`)).json()).toMatchObject({
      provider: 'aws_s3',
      version: 2,
    });
  });

  const invalid: Array<[string, string, Record<string, unknown>, string]> = [
    ['azure_blob', 'missing connection_string', { container: 'images' }, 'body.config.connection_string'],
    [
      'azure_blob',
      'container not a valid name',
      { connection_string: 'x', container: 'Bad_Name' },
      'body.config.container',
    ],
    [
      'aws_s3',
      'missing secret_key',
      { access_key: 'a', region: 'us-west-2', bucket: 'bucket' },
      'body.config.secret_key',
    ],
    [
      'aws_s3',
      'region of the wrong type',
      { access_key: 'a', secret_key: 'b', region: 42, bucket: 'bucket' },
      'body.config.region',
    ],
    ['gcs', 'missing project_id', { service_account_key: '{}', bucket: 'bucket' }, 'body.config.project_id'],
    [
      'minio',
      'secure not a boolean',
      { endpoint: 'http://m:9000', access_key: 'a', secret_key: 'b', bucket: 'bucket', secure: 'yes' },
      'body.config.secure',
    ],
    ['nfs', 'relative mount_path', { mount_path: 'mnt/x' }, 'body.config.mount_path'],
    ['smb', 'missing password', { share_path: '//server/share', username: 'u' }, 'body.config.password'],
    [
      'smb',
      'port out of range',
      { share_path: '//server/share', username: 'u', password: 'p', port: 70000 },
      'body.config.port',
    ],
    [
      'aws_s3',
      'an unknown field',
      { access_key: 'a', secret_key: 'b', region: 'us-west-2', bucket: 'bucket', colour: 'red' },
      'body.config.colour',
    ],
  ];

  it.each(invalid)('%s with %s: 400 naming %s, nothing stored', async (provider, _what, config, field) => {
    const tenant = await insertTenant();
    const response = await api.call('PUT', `/v1/tenants/${tenant.id}/storage`, { body: { provider, config } });
    expect(response.statusCode).toBe(400);
    const { error } = response.json();
    expect(error.code).toBe('validation_failed');
    expect(error.message).toContain(field);
    expect((await api.call('GET', `/v1/tenants/${tenant.id}/storage`)).statusCode).toBe(404);
  });

  it('an unknown provider or a missing config is a 400 naming the field', async () => {
    const tenant = await insertTenant();
    const unknown = await api.call('PUT', `/v1/tenants/${tenant.id}/storage`, {
      body: { provider: 'ftp', config: {} },
    });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().error.message).toContain('provider');
    const missing = await api.call('PUT', `/v1/tenants/${tenant.id}/storage`, { body: { provider: 'nfs' } });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().error.message).toContain('body.config');
  });

  it('404 for an unknown tenant; 409 for a tenant deleted, being deleted, or failed', async () => {
    const body = { provider: 'nfs', config: { mount_path: `${tmpdir()}/x` } };
    const unknown = await api.call('PUT', `/v1/tenants/${randomUUID()}/storage`, { body });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.code).toBe('not_found');
    for (const status of ['deleted', 'deprovisioning', 'failed']) {
      const tenant = await insertTenant(status);
      const response = await api.call('PUT', `/v1/tenants/${tenant.id}/storage`, { body });
      expect(response.statusCode, status).toBe(409);
      expect(response.json().error.code).toBe('conflict');
      expect((await api.call('POST', `/v1/tenants/${tenant.id}/storage/test`)).statusCode).toBe(409);
    }
  });

  it('replays the first answer for the same Idempotency-Key', async () => {
    const tenant = await insertTenant();
    const body = { provider: 'nfs', config: { mount_path: `${tmpdir()}/idem` } };
    const headers = { 'idempotency-key': `storage-${randomUUID()}` };
    const first = await api.call('PUT', `/v1/tenants/${tenant.id}/storage`, { body, headers });
    const again = await api.call('PUT', `/v1/tenants/${tenant.id}/storage`, { body, headers });
    expect(again.statusCode).toBe(202);
    expect(again.json().jobId).toBe(first.json().jobId);
    expect((await api.call('GET', `/v1/tenants/${tenant.id}/storage`)).json().version).toBe(1);
  });
});

describe('POST /v1/tenants/:id/storage/test', () => {
  it('enqueues an on-demand verification of the current version and marks it verifying', async () => {
    const tenant = await insertTenant();
    await api.call('PUT', `/v1/tenants/${tenant.id}/storage`, {
      body: { provider: 'smb', config: samples.smb.config },
    });
    await withClient(platformUrl(), (client) =>
      client.query(`UPDATE tenant_storage_configs SET status = 'verified' WHERE tenant_id = $1`, [tenant.id]),
    );
    const response = await api.call('POST', `/v1/tenants/${tenant.id}/storage/test`);
    expect(response.statusCode).toBe(202);
    const { jobId } = response.json();
    expect(response.headers.location).toBe(`/v1/jobs/${jobId}`);
    const job = await Job.fromId(api.deps.producer.queue('storage'), jobId);
    expect(job!.data).toMatchObject({ tenantId: tenant.id, configVersion: 1, reason: 'on_demand' });
    expect((await api.call('GET', `/v1/jobs/${jobId}`)).json()).toMatchObject({
      type: 'storage.verify',
      tenantId: tenant.id,
      state: 'waiting',
    });
    expect((await api.call('GET', `/v1/tenants/${tenant.id}/storage`)).json().status).toBe('verifying');
    // Each test is its own job.
    const again = await api.call('POST', `/v1/tenants/${tenant.id}/storage/test`);
    expect(again.json().jobId).not.toBe(jobId);
  });

  it('404 when the tenant has no storage configured', async () => {
    const tenant = await insertTenant();
    const response = await api.call('POST', `/v1/tenants/${tenant.id}/storage/test`);
    expect(response.statusCode).toBe(404);
    expect((await api.call('GET', `/v1/tenants/${tenant.id}/storage`)).statusCode).toBe(404);
  });
});

describe('secrets at rest', () => {
  it('are neither in the configs table as plaintext nor in the audit log', async () => {
    const tenant = await insertTenant();
    const all = Object.values(samples).flatMap((sample) => sample.secrets);
    for (const [provider, sample] of Object.entries(samples)) {
      const response = await api.call('PUT', `/v1/tenants/${tenant.id}/storage`, {
        body: { provider, config: sample.config },
      });
      expect(response.statusCode).toBe(202);
    }
    const dump = await withClient(platformUrl(), async (client) => {
      const configs = await client.query(`SELECT c::text AS row FROM tenant_storage_configs c WHERE tenant_id = $1`, [
        tenant.id,
      ]);
      const audit = await client.query(`SELECT a::text AS row FROM audit_log a WHERE tenant_id = $1`, [tenant.id]);
      const keys = await client.query(`SELECT k::text AS row FROM idempotency_keys k`);
      return [...configs.rows, ...audit.rows, ...keys.rows].map((row) => row.row as string).join('\n');
    });
    expect(dump).toContain('tenant.storage.update');
    for (const secret of all) expect(dump).not.toContain(secret);
    // The whole config is sealed under the configured key's id; nothing in the legacy pgcrypto column.
    const stored = await withClient(
      platformUrl(),
      async (client) =>
        (
          await client.query(
            `SELECT key_id, sealed, secrets, settings FROM tenant_storage_configs WHERE tenant_id = $1`,
            [tenant.id],
          )
        ).rows[0],
    );
    expect(stored).toMatchObject({ key_id: 'test-k1', sealed: expect.stringMatching(/^v1\.test-k1\./), secrets: null });
    expect(stored.settings).not.toHaveProperty('password');
  });
});
