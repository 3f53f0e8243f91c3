import { randomUUID } from 'node:crypto';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { deterministicJobId, platformNames, sql, withClient, withDatabase } from '@deeplens/shared';
import { enqueueJob, inOutboxTransaction, uniqueName, waitFor } from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMoto, type MotoServer } from '../src/test-support/moto.js';
import { freePort, makeTempDir } from '../src/test-support/processes.js';
import { dumpPlatformDatabase, dumpRedis, startPlatform, type Platform } from './support.js';

/**
 * storage.verify end to end: the API, the provisioner and the verifier as
 * processes, an S3 endpoint from moto_server checking SigV4 signatures.
 * Retries use 3 attempts and a 400 ms jittered backoff base, set by env.
 */

const BUCKET = 'deeplens-e2e';
let platform: Platform;
let moto: MotoServer;
let s3: {
  access_key: string;
  secret_key: string;
  region: string;
  bucket: string;
  endpoint: string;
  force_path_style: boolean;
};
/** Every secret value a test sent: none may appear in a log, a table or Redis. */
const secretsUsed = new Set<string>();

beforeAll(async () => {
  [platform, moto] = await Promise.all([
    startPlatform({
      DEEPLENS_STORAGE_VERIFY_ATTEMPTS: '3',
      DEEPLENS_STORAGE_VERIFY_BACKOFF_MS: '400',
      DEEPLENS_STORAGE_STEP_TIMEOUT_MS: '5000',
      DEEPLENS_STORAGE_TOTAL_TIMEOUT_MS: '15000',
      DEEPLENS_STORAGE_RECONCILE_INTERVAL_MS: '300',
    }),
    startMoto(),
  ]);
  const user = await moto.createUser('deeplens-e2e');
  s3 = {
    access_key: user.accessKeyId,
    secret_key: user.secretAccessKey,
    region: 'us-east-1',
    bucket: BUCKET,
    endpoint: moto.endpoint,
    force_path_style: true,
  };
  secretsUsed.add(user.accessKeyId).add(user.secretAccessKey);
  const client = new S3Client({
    region: 'us-east-1',
    endpoint: moto.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: user.accessKeyId, secretAccessKey: user.secretAccessKey },
  });
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  client.destroy();
});

afterAll(async () => {
  await Promise.all([platform?.stop(), moto?.stop()]);
});

async function createTenant(storage?: unknown): Promise<string> {
  const created = await platform.call('POST', '/v1/tenants', {
    name: uniqueName('byos'),
    ...(storage ? { storage } : {}),
  });
  expect(created.status, created.text).toBe(202);
  const job = await platform.waitForJob(created.json().jobId);
  expect(job.state).toBe('completed');
  return created.json().tenantId;
}

async function putStorage(tenantId: string, provider: string, config: Record<string, unknown>): Promise<string> {
  const response = await platform.call('PUT', `/v1/tenants/${tenantId}/storage`, { provider, config });
  expect(response.status, response.text).toBe(202);
  return response.json().jobId;
}

const platformUrl = () =>
  withDatabase(platform.env.DATABASE_URL!, platformNames(platform.env.DEEPLENS_DB_PREFIX!).platformDatabase);

const storageOf = async (tenantId: string) => (await platform.call('GET', `/v1/tenants/${tenantId}/storage`)).json();

describe('storage.verify against live endpoints', () => {
  it('a tenant created with S3 storage in the POST body ends active with storage verified', async () => {
    const tenantId = await createTenant({ provider: 'aws_s3', config: s3 });
    const verifyJobId = deterministicJobId(
      'storage.verify',
      tenantId,
      deterministicJobId('storage.verify.provisioned', tenantId),
    );
    const job = await platform.waitForJob(verifyJobId);
    expect(job).toMatchObject({ type: 'storage.verify', tenantId, state: 'completed', attempts: 1, error: null });
    expect(job.result).toMatchObject({ status: 'verified', configVersion: 1 });

    const tenant = (await platform.call('GET', `/v1/tenants/${tenantId}`)).json();
    expect(tenant.status).toBe('active');
    expect(tenant.storage).toMatchObject({ provider: 'aws_s3', status: 'verified', lastError: null });
    expect(Date.parse(tenant.storage.lastTestedAt)).toBeGreaterThan(Date.now() - 60_000);

    const storage = await storageOf(tenantId);
    expect(storage.config).toMatchObject({ access_key: '********', secret_key: '********', bucket: BUCKET });
    expect(storage.steps.map((step: { step: string; ok: boolean }) => [step.step, step.ok])).toEqual([
      ['write', true],
      ['read', true],
      ['list', true],
      ['delete', true],
    ]);
    expect(storage.history).toEqual([
      expect.objectContaining({
        jobId: verifyJobId,
        reason: 'provisioned',
        status: 'verified',
        attempts: 1,
        error: null,
        configVersion: 1,
      }),
    ]);

    // On demand, again: a second history entry.
    const test = await platform.call('POST', `/v1/tenants/${tenantId}/storage/test`);
    expect(test.status).toBe(202);
    expect((await platform.waitForJob(test.json().jobId)).state).toBe('completed');
    const after = await storageOf(tenantId);
    expect(after.status).toBe('verified');
    expect(after.history.map((entry: { reason: string }) => entry.reason)).toEqual(['on_demand', 'provisioned']);
  });

  it('an unknown access key fails as invalid_credentials after ONE attempt; the tenant stays active but flagged', async () => {
    const tenantId = await createTenant();
    const before = (await platform.call('GET', '/v1/status')).json().storage.flaggedTenants;
    secretsUsed.add('AKIAUNKNOWNE2E000001');
    const jobId = await putStorage(tenantId, 'aws_s3', { ...s3, access_key: 'AKIAUNKNOWNE2E000001' });
    const job = await platform.waitForJob(jobId);
    expect(job).toMatchObject({ state: 'failed', attempts: 1, maxAttempts: 3, error: { code: 'invalid_credentials' } });

    const storage = await storageOf(tenantId);
    expect(storage).toMatchObject({
      status: 'failed',
      lastError: { code: 'invalid_credentials', message: job.error.message },
    });
    expect(storage.history[0]).toMatchObject({
      jobId,
      status: 'failed',
      attempts: 1,
      error: { code: 'invalid_credentials' },
    });
    const tenant = (await platform.call('GET', `/v1/tenants/${tenantId}`)).json();
    expect(tenant).toMatchObject({
      status: 'active',
      storage: { status: 'failed', lastError: { code: 'invalid_credentials' } },
    });
    const status = (await platform.call('GET', '/v1/status')).json();
    expect(status.storage.flaggedTenants).toBe(before + 1);
    expect(status.storage.byProvider.aws_s3.failed).toBeGreaterThanOrEqual(1);

    // Fixing the config clears the flag.
    const fixed = await platform.waitForJob(await putStorage(tenantId, 'aws_s3', s3));
    expect(fixed.state).toBe('completed');
    expect(await storageOf(tenantId)).toMatchObject({ status: 'verified', lastError: null, version: 2 });
    expect((await platform.call('GET', '/v1/status')).json().storage.flaggedTenants).toBe(before);
  });

  it('a missing bucket fails as bucket_not_found, not retried', async () => {
    const tenantId = await createTenant();
    const job = await platform.waitForJob(
      await putStorage(tenantId, 'aws_s3', { ...s3, bucket: 'deeplens-no-such-bucket' }),
    );
    expect(job).toMatchObject({ state: 'failed', attempts: 1, error: { code: 'bucket_not_found' } });
    expect(job.error.message).toContain('deeplens-no-such-bucket');
    expect((await storageOf(tenantId)).lastError.code).toBe('bucket_not_found');
  });

  it('a closed port fails as endpoint_unreachable after the configured 3 attempts, verifying while retries remain', async () => {
    const tenantId = await createTenant();
    const port = await freePort();
    const jobId = await putStorage(tenantId, 'aws_s3', { ...s3, endpoint: `http://127.0.0.1:${port}` });

    // Between attempts the job waits (delayed) and the storage still says verifying.
    const delayed = await waitFor(
      async () => {
        const job = await platform.job(jobId);
        return job.state === 'delayed' ? job : undefined;
      },
      { intervalMs: 20, what: 'a delayed retry' },
    );
    expect(delayed.error.code).toBe('endpoint_unreachable');
    expect((await storageOf(tenantId)).status).toBe('verifying');

    const job = await platform.waitForJob(jobId);
    expect(job).toMatchObject({
      state: 'failed',
      attempts: 3,
      maxAttempts: 3,
      error: { code: 'endpoint_unreachable' },
    });
    const storage = await storageOf(tenantId);
    expect(storage).toMatchObject({ status: 'failed', lastError: { code: 'endpoint_unreachable' } });
    expect(storage.history[0]).toMatchObject({ jobId, status: 'failed', attempts: 3, maxAttempts: 3 });
  });

  it('a job for a replaced config version completes as stale without probing', async () => {
    const tenantId = await createTenant();
    const folder = await makeTempDir('e2e-nfs');
    try {
      await platform.waitForJob(await putStorage(tenantId, 'nfs', { mount_path: folder.path }));
      const second = await platform.waitForJob(await putStorage(tenantId, 'nfs', { mount_path: folder.path }));
      expect(second.state).toBe('completed');

      // As if version 1's job had been waiting behind the newer change.
      const staleJobId = await enqueueJob(platform.env, 'storage.verify', {
        tenantId,
        configVersion: 1,
        requestId: randomUUID(),
        reason: 'changed',
      });

      const stale = await platform.waitForJob(staleJobId);
      expect(stale).toMatchObject({
        state: 'completed',
        attempts: 1,
        result: { skipped: 'stale', configVersion: 1, currentVersion: 2 },
      });
      const storage = await storageOf(tenantId);
      expect(storage).toMatchObject({ status: 'verified', version: 2 });
      expect(storage.history.map((entry: { jobId: string }) => entry.jobId)).not.toContain(staleJobId);
    } finally {
      await folder.remove();
    }
  });

  it('a config left verifying without a job (Redis lost it) is verified again by the reconciler', async () => {
    const tenantId = await createTenant();
    const folder = await makeTempDir('e2e-reconcile');
    try {
      const first = await platform.waitForJob(await putStorage(tenantId, 'nfs', { mount_path: folder.path }));
      expect(first.state).toBe('completed');
      // As if the API had committed a change whose job Redis then lost, long ago.
      await withClient(platformUrl(), (client) =>
        client.query(
          `UPDATE tenant_storage_configs SET status = 'verifying', updated_at = now() - interval '1 hour' WHERE tenant_id = $1`,
          [tenantId],
        ),
      );
      const storage = await waitFor(
        async () => {
          const view = await storageOf(tenantId);
          return view.status === 'verified' && view.history.length === 2 ? view : undefined;
        },
        { what: 'the reconciled verification' },
      );
      expect(storage.history[0]).toMatchObject({ configVersion: 1, status: 'verified', reason: 'on_demand' });
    } finally {
      await folder.remove();
    }
  });

  it('a config the verifier cannot decrypt fails the job as internal_error and is left unverified, not verifying', async () => {
    const tenantId = await createTenant();
    const folder = await makeTempDir('e2e-keyring');
    try {
      await platform.waitForJob(await putStorage(tenantId, 'nfs', { mount_path: folder.path }));
      await withClient(platformUrl(), (client) =>
        // As if sealed under a key since removed from the keyring (the key id inside the sealed text is what counts).
        client.query(
          `UPDATE tenant_storage_configs SET sealed = regexp_replace(sealed, '^v1\\.[^.]+\\.', 'v1.retired.'), key_id = 'retired' WHERE tenant_id = $1`,
          [tenantId],
        ),
      );
      const test = await platform.call('POST', `/v1/tenants/${tenantId}/storage/test`);
      const job = await platform.waitForJob(test.json().jobId);
      expect(job).toMatchObject({ state: 'failed', attempts: 1, error: { code: 'internal_error' } });
      expect(job.error.message).toContain('"retired"');
      expect(await storageOf(tenantId)).toMatchObject({ status: 'unverified' });

      // The same, asked for in a transaction that marks the config `verifying`: the job reaches the
      // verifier only once that transaction has committed, so the verifier sees `verifying` and
      // leaves the config unverified rather than missing a state it could not yet see.
      const jobId = await inOutboxTransaction(platform.env, async (trx, record) => {
        await trx.query(sql.typeAlias('void')`
          UPDATE tenant_storage_configs SET status = 'verifying', updated_at = now() WHERE tenant_id = ${tenantId}`);
        const recorded = await record.job('storage.verify', {
          tenantId,
          configVersion: 1,
          requestId: randomUUID(),
          reason: 'on_demand',
        });
        // Not committed yet: no worker can take it, and the API does not know it.
        expect((await platform.call('GET', `/v1/jobs/${recorded}`)).status).toBe(404);
        return recorded;
      });
      expect(await platform.waitForJob(jobId)).toMatchObject({ state: 'failed', error: { code: 'internal_error' } });
      expect(await storageOf(tenantId)).toMatchObject({ status: 'unverified' });
    } finally {
      await folder.remove();
    }
  });

  it('no secret value is in any platform table, Redis key or log line', async () => {
    expect(secretsUsed.size).toBeGreaterThanOrEqual(3);
    const [database, redis] = await Promise.all([dumpPlatformDatabase(platform.env), dumpRedis(platform.env)]);
    const logs = platform.logs();
    // The dumps are real: they hold this run's jobs, configs and log lines.
    expect(database).toContain('tenant_storage_configs');
    expect(database).toContain('invalid_credentials');
    expect(redis).toContain('storage.verify');
    expect(logs).toContain('storage verified');
    for (const secret of secretsUsed) {
      expect(database, 'platform database').not.toContain(secret);
      expect(redis, 'redis').not.toContain(secret);
      expect(logs, 'service logs').not.toContain(secret);
    }
  });
});
