import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storageConfigsRepository, type StorageProvider } from '@deeplens/shared';
import {
  type ServiceProcess,
  startCountingListener,
  startEchoServer,
  startService,
  testEnv,
  uniqueName,
} from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platformQuery, startTestApi, type TestApi } from '../../services/api/test/helpers.js';

/**
 * The workers under an egress policy that lets through one hostile endpoint
 * (an echo server on 127.0.0.1:<port>, as DEEPLENS_EGRESS_ALLOW would an
 * operator's) and nothing else on loopback. A counting listener stands in for
 * an internal service; configs that reach it are written straight into the
 * platform database, as if stored before the API checked them (or named by a
 * host whose DNS changed since). The API in-process, provisioner and verifier
 * as processes whose every log line is searched.
 */

const MARKER = 'MARKER-internal-service-said-this-5c1e';
const privateKey = generateKeyPairSync('rsa', { modulusLength: 2048 })
  .privateKey.export({ type: 'pkcs8', format: 'pem' })
  .toString();
const serviceAccount = (tokenUri: string) =>
  JSON.stringify({
    type: 'service_account',
    client_email: 'e2e@deeplens-test.iam.gserviceaccount.com',
    private_key: privateKey,
    token_uri: tokenUri,
  });

let api: TestApi;
let internal: Awaited<ReturnType<typeof startCountingListener>>;
let echo: Awaited<ReturnType<typeof startEchoServer>>;
let query: ReturnType<typeof platformQuery>;
const services: ServiceProcess[] = [];
let environDir: string;

beforeAll(async () => {
  [internal, echo] = await Promise.all([startCountingListener(), startEchoServer(() => [MARKER])]);
  const env = testEnv({ DEEPLENS_EGRESS_ALLOW: new URL(echo.endpoint).host, LOG_LEVEL: 'debug' });
  query = platformQuery(env);
  // One after the other: three processes compiling their sources at once on two shared cores miss the start deadline.
  api = await startTestApi(env);
  services.push(await startService('provisioner', env));
  services.push(await startService('storage-verifier', env));
  environDir = await mkdtemp(join(tmpdir(), 'deeplens-environ-'));
});
afterAll(async () => {
  await Promise.all([api?.close(), internal?.stop(), echo?.stop(), ...services.map((service) => service.stop())]);
  if (environDir) await rm(environDir, { recursive: true, force: true });
});

const logs = () => services.flatMap((service) => service.output).join('\n');

async function provisioned(): Promise<string> {
  const created = await api.call('POST', '/v1/tenants', { body: { name: uniqueName('egr') } });
  expect(created.statusCode, created.body).toBe(202);
  expect((await api.waitForJob(created.json().jobId)).state).toBe('completed');
  return created.json().tenantId;
}

/** Stores a config without the API's checks, with the given verification status. */
async function storeDirectly(
  tenantId: string,
  provider: StorageProvider,
  config: Record<string, unknown>,
  status = 'verified',
) {
  await storageConfigsRepository.save(api.deps.pool, { tenantId, provider, config }, api.deps.keyring);
  await query('UPDATE tenant_storage_configs SET status = $2 WHERE tenant_id = $1', [tenantId, status]);
}

async function backUp(tenantId: string) {
  const response = await api.call('POST', `/v1/tenants/${tenantId}/backups`);
  expect(response.statusCode, response.body).toBe(202);
  return { backupId: response.json().backupId as string, job: await api.waitForJob(response.json().jobId) };
}

const localhost = () => `http://localhost:${internal.port}`;
const refusedConfigs: Array<[StorageProvider, () => Record<string, unknown>]> = [
  [
    'aws_s3',
    () => ({
      access_key: 'AKIAEGRESS0000000001',
      secret_key: 'egress-secret-key',
      region: 'us-east-1',
      bucket: 'deeplens-egress',
      endpoint: localhost(),
      force_path_style: true,
    }),
  ],
  [
    'minio',
    () => ({
      endpoint: localhost(),
      access_key: 'egress-access',
      secret_key: 'egress-secret-key',
      bucket: 'deeplens-egress',
    }),
  ],
  [
    'azure_blob',
    () => ({
      connection_string: `DefaultEndpointsProtocol=http;AccountName=egress;AccountKey=${Buffer.from('egress-key').toString('base64')};BlobEndpoint=${localhost()}/egress;`,
      container: 'deeplens-egress',
    }),
  ],
  [
    'gcs',
    () => ({
      service_account_key: serviceAccount(`${localhost()}/token`),
      bucket: 'deeplens-egress',
      project_id: 'p',
      api_endpoint: localhost(),
    }),
  ],
];

describe('backup writers connect only where the egress policy allows', () => {
  it.each(refusedConfigs)(
    '%s: a name resolving to loopback fails the backup endpoint_forbidden, not retried, with no connection',
    async (provider, config) => {
      const tenantId = await provisioned();
      await storeDirectly(tenantId, provider, config());
      const { backupId, job } = await backUp(tenantId);
      expect(job.state).toBe('failed');
      expect(job.error.code).toBe('endpoint_forbidden');
      // Not retried: a retryable failure would use all attempts (a lock lost on a loaded machine may restart one).
      expect(job.attempts).toBeLessThan(job.maxAttempts);
      const [row] = await query<{ status: string; error_code: string }>(
        'SELECT status, error_code FROM backups WHERE id = $1',
        [backupId],
      );
      expect(row).toEqual({ status: 'failed', error_code: 'endpoint_forbidden' });
      expect(internal.connections()).toBe(0);
    },
  );
});

describe('a stored external_account GCS key (credential_source.file, token_url)', () => {
  it('is refused by the backup writer and the verifier without reading the file or calling the token URL', async () => {
    const environ = join(environDir, 'environ');
    await writeFile(environ, `DATABASE_URL=postgres://${MARKER}@db/postgres\0`);
    const key = JSON.stringify({
      type: 'external_account',
      audience: '//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x',
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      token_url: `${echo.endpoint}/token`,
      credential_source: { file: environ },
    });
    const tenantId = await provisioned();
    await storeDirectly(tenantId, 'gcs', {
      service_account_key: key,
      bucket: 'deeplens-egress',
      project_id: 'p',
      api_endpoint: echo.endpoint,
    });
    const { job } = await backUp(tenantId);
    expect(job.state).toBe('failed');
    expect(job.error.code).toBe('validation_failed');
    expect(job.error.message).toContain('"external_account"');

    const test = await api.call('POST', `/v1/tenants/${tenantId}/storage/test`);
    const verification = await api.waitForJob(test.json().jobId);
    expect(verification.error.code).toBe('invalid_credentials');
    const storage = (await api.call('GET', `/v1/tenants/${tenantId}/storage`)).json();
    expect(storage.lastError.code).toBe('invalid_credentials');
    expect(JSON.stringify([job, verification, storage]) + logs()).not.toContain(MARKER);
    expect(internal.connections()).toBe(0);
  });
});

describe('nothing a hostile endpoint says reaches the tenant or the logs', () => {
  const hostile: Array<[StorageProvider, () => Record<string, unknown>]> = [
    [
      'aws_s3',
      () => ({
        access_key: 'AKIAEGRESS0000000001',
        secret_key: 'egress-secret-key',
        region: 'us-east-1',
        bucket: 'deeplens-echo',
        endpoint: echo.endpoint,
        force_path_style: true,
      }),
    ],
    [
      'azure_blob',
      () => ({
        connection_string: `DefaultEndpointsProtocol=http;AccountName=echo;AccountKey=${Buffer.from('echo-key').toString('base64')};BlobEndpoint=${echo.endpoint}/echo;`,
        container: 'deeplens-echo',
      }),
    ],
    [
      'gcs',
      () => ({
        service_account_key: serviceAccount(`${echo.endpoint}/token`),
        bucket: 'deeplens-echo',
        project_id: 'p',
        api_endpoint: echo.endpoint,
      }),
    ],
  ];
  it.each(hostile)("%s: the verification fails in the platform's words", async (provider, config) => {
    const tenantId = await provisioned();
    const put = await api.call('PUT', `/v1/tenants/${tenantId}/storage`, { body: { provider, config: config() } });
    expect(put.statusCode, put.body).toBe(202);
    const job = await api.waitForJob(put.json().jobId);
    expect(job.state).toBe('failed');
    expect(job.error.code).toBe('provider_error');
    const storage = (await api.call('GET', `/v1/tenants/${tenantId}/storage`)).json();
    expect(storage.lastError.code).toBe('provider_error');
    expect(JSON.stringify([job, storage]) + logs()).not.toContain(MARKER);
  });
});

describe('backups and restores only to verified storage', () => {
  const s3 = () => refusedConfigs[0]![1]();

  it('the API answers 409 for a backup or a restore while the storage is not verified', async () => {
    const tenantId = await provisioned();
    for (const status of ['unverified', 'verifying', 'failed']) {
      await storeDirectly(tenantId, 'aws_s3', s3(), status);
      const backup = await api.call('POST', `/v1/tenants/${tenantId}/backups`);
      expect(backup.statusCode, backup.body).toBe(409);
      expect(backup.json().error).toMatchObject({
        code: 'conflict',
        message: expect.stringContaining(`storage is ${status}, not verified`),
      });
      const restore = await api.call('POST', `/v1/tenants/${tenantId}/restore`, { body: { backupId: randomUUID() } });
      expect(restore.statusCode, restore.body).toBe(409);
    }
    expect(await query('SELECT id FROM backups WHERE tenant_id = $1', [tenantId])).toEqual([]);
  });

  it('the jobs refuse too when the storage stopped being verified while they waited', async () => {
    const tenantId = await provisioned();
    await storeDirectly(tenantId, 'aws_s3', s3());
    const [database] = await query<{ database_name: string }>(
      'SELECT database_name FROM tenant_databases WHERE tenant_id = $1 AND dropped_at IS NULL',
      [tenantId],
    );
    const oldBackup = randomUUID();
    await query(
      `INSERT INTO backups (id, kind, tenant_id, database_name, provider, storage_key, status, size_bytes, sha256, requested_by)
       VALUES ($1, 'tenant', $2, $3, 'aws_s3', 'backups/old.dump', 'completed', 10, repeat('a', 64), 'test')`,
      [oldBackup, tenantId, database!.database_name],
    );
    const queue = api.deps.producer.queue('provisioning');
    await queue.pause();
    let backup: Awaited<ReturnType<typeof api.call>> | undefined;
    let restore: Awaited<ReturnType<typeof api.call>> | undefined;
    try {
      backup = await api.call('POST', `/v1/tenants/${tenantId}/backups`);
      restore = await api.call('POST', `/v1/tenants/${tenantId}/restore`, { body: { backupId: oldBackup } });
      expect([backup.statusCode, restore.statusCode]).toEqual([202, 202]);
      await query("UPDATE tenant_storage_configs SET status = 'failed' WHERE tenant_id = $1", [tenantId]);
    } finally {
      await queue.resume();
    }
    for (const response of [backup, restore]) {
      const job = await api.waitForJob(response.json().jobId);
      expect(job.state).toBe('failed');
      expect(job.error).toMatchObject({
        code: 'conflict',
        message: expect.stringContaining('storage is failed, not verified'),
      });
    }
    expect(internal.connections()).toBe(0);
  });
});
