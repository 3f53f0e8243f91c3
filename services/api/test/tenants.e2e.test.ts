import { tmpdir } from 'node:os';
import { armFailpoints, meteringKeys, platformNames, sql, withClient, withDatabase } from '@deeplens/shared';
import { Redis } from 'ioredis';
import { startService, testEnv, uniqueName, waitFor, type ServiceProcess } from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from './helpers.js';

const env = testEnv();
const platformUrl = withDatabase(env.DATABASE_URL!, platformNames(env.DEEPLENS_DB_PREFIX!).platformDatabase);
let api: TestApi;
let provisioner: ServiceProcess;

beforeAll(async () => {
  api = await startTestApi(env);
  provisioner = await startService('provisioner', env);
});

afterAll(async () => {
  await provisioner?.stop();
  await api?.close();
});

/**
 * The tenant's state as the quota check reads it from Redis, once it shows `status`. No aggregator
 * runs in this file, so its reconciliation cannot be what put it there.
 */
async function quotaStateBecomes(tenantId: string, status: string) {
  const redis = new Redis(env.REDIS_URL!);
  try {
    const key = meteringKeys(env.DEEPLENS_QUEUE_PREFIX!).tenant(tenantId);
    return await waitFor(
      async () => {
        const state = await redis.hgetall(key);
        return state.status === status ? state : undefined;
      },
      { timeoutMs: 5_000, what: `quota state ${status}` },
    );
  } finally {
    redis.disconnect();
  }
}

async function databaseExists(name: string) {
  return withClient(env.DATABASE_URL!, async (client) => {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    return rowCount === 1;
  });
}

describe('tenant lifecycle over HTTP', () => {
  it('provisions a tenant end to end: 202, job completed, active with its own database', async () => {
    const name = uniqueName('acme');
    const created = await api.call('POST', '/v1/tenants', {
      body: { name, displayName: 'Acme Corp', domain: `${name}.example.com`, plan: 'premium' },
    });
    expect(created.statusCode).toBe(202);
    const { tenantId, jobId, status } = created.json();
    expect(status).toBe('provisioning');
    expect(created.headers.location).toBe(`/v1/jobs/${jobId}`);

    const job = await api.waitForJob(jobId);
    expect(job).toMatchObject({ id: jobId, type: 'tenant.provision', tenantId, state: 'completed', error: null });
    expect(job.attempts).toBeGreaterThanOrEqual(1);

    const tenant = (await api.call('GET', `/v1/tenants/${tenantId}`)).json();
    const database = `${env.DEEPLENS_DB_PREFIX}tenant_${name.replace(/-/g, '_')}_metadata`;
    expect(tenant).toMatchObject({
      id: tenantId,
      name,
      displayName: 'Acme Corp',
      domain: `${name}.example.com`,
      plan: 'premium',
      status: 'active',
      statusReason: null,
      limits: { storageBytes: 100 * 1024 ** 3, apiCallsPerMonth: 100_000, maxCollections: 50 },
      databases: [{ type: 'metadata', name: database }],
    });
    expect(await databaseExists(database)).toBe(true);

    const byName = await api.call('GET', `/v1/tenants/${name}`);
    expect(byName.json().id).toBe(tenantId);
    // The provisioner publishes the activation for the quota check itself.
    expect(await quotaStateBecomes(tenantId, 'active')).toMatchObject({ plan: 'premium', apiCallsLimit: '100000' });
  });

  it('answers a duplicate name or domain with 409 and writes nothing', async () => {
    const name = uniqueName('dup');
    const first = await api.call('POST', '/v1/tenants', { body: { name, domain: `${name}.example.org` } });
    expect(first.statusCode).toBe(202);
    const again = await api.call('POST', '/v1/tenants', { body: { name } });
    expect(again.statusCode).toBe(409);
    expect(again.json().error.code).toBe('conflict');
    const sameDomain = await api.call('POST', '/v1/tenants', {
      body: { name: uniqueName('other'), domain: `${name}.EXAMPLE.org` },
    });
    expect(sameDomain.statusCode).toBe(409);
    expect(sameDomain.json().error.details).toEqual([{ field: 'domain' }]);
    await api.waitForJob(first.json().jobId);
  });

  it('lists tenants with filters and cursor pagination', async () => {
    const names = [uniqueName('page'), uniqueName('page'), uniqueName('page')];
    const jobs = [];
    for (const name of names) {
      jobs.push((await api.call('POST', '/v1/tenants', { body: { name, plan: 'enterprise' } })).json().jobId);
    }
    await Promise.all(jobs.map((jobId) => api.waitForJob(jobId)));

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = `/v1/tenants?plan=enterprise&status=active&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const page = (await api.call('GET', query)).json();
      expect(page.items.length).toBeLessThanOrEqual(2);
      for (const tenant of page.items) {
        expect(tenant.plan).toBe('enterprise');
        expect(tenant.status).toBe('active');
        seen.push(tenant.name);
      }
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(expect.arrayContaining(names));
    expect(new Set(seen).size).toBe(seen.length);
  });

  it("shows a tenant the same way alone, in a list and after a change, in exactly the schema's shape", async () => {
    const name = uniqueName('shape');
    const created = (
      await api.call('POST', '/v1/tenants', {
        body: {
          name,
          displayName: 'Shape "Co"',
          domain: `${name}.example.org`,
          plan: 'premium',
          storage: { provider: 'nfs', config: { mount_path: `${tmpdir()}/shape` } },
        },
      })
    ).json();
    await api.waitForJob(created.jobId);
    // A failed verification as the verifier records it, with a microsecond instant and a key the contract does not show.
    const createdAt = await withClient(platformUrl, async (client) => {
      await client.query(
        `UPDATE tenant_storage_configs SET status = 'failed', last_tested_at = '2026-01-02 03:04:05.678999+00',
                last_error = '{"code": "not_writable", "message": "cannot write to /srv/shape", "internal": "hidden"}'
          WHERE tenant_id = $1`,
        [created.tenantId],
      );
      return (await client.query('SELECT created_at::text AS at FROM tenants WHERE id = $1', [created.tenantId]))
        .rows[0].at as string;
    });

    const one = await api.call('GET', `/v1/tenants/${created.tenantId}`);
    expect(one.headers['content-type']).toBe('application/json; charset=utf-8');
    const database = `${env.DEEPLENS_DB_PREFIX}tenant_${name.replace(/-/g, '_')}_metadata`;
    expect(one.json()).toEqual({
      id: created.tenantId,
      name,
      displayName: 'Shape "Co"',
      domain: `${name}.example.org`,
      plan: 'premium',
      status: 'active',
      statusReason: null,
      limits: { storageBytes: 100 * 1024 ** 3, apiCallsPerMonth: 100_000, maxCollections: 50 },
      databases: [{ type: 'metadata', name: database }],
      storage: {
        provider: 'nfs',
        status: 'failed',
        lastTestedAt: '2026-01-02T03:04:05.678Z',
        lastError: { code: 'not_writable', message: 'cannot write to /srv/shape' },
      },
      // What Date#toISOString makes of the stored instant: milliseconds, truncated, in UTC.
      createdAt: new Date(Date.parse(createdAt)).toISOString(),
      updatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    });

    const listed = [];
    let cursor: string | null = null;
    do {
      const page = await api.call('GET', `/v1/tenants?plan=premium&limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.headers['content-type']).toBe('application/json; charset=utf-8');
      listed.push(...page.json().items);
      cursor = page.json().nextCursor;
    } while (cursor);
    expect(listed.find((tenant) => tenant.id === created.tenantId)).toEqual(one.json());

    const patched = await api.call('PATCH', `/v1/tenants/${name}`, { body: { displayName: null } });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toEqual({ ...one.json(), displayName: null, updatedAt: expect.any(String) });
    expect((await api.call('GET', `/v1/tenants/${name}`)).json()).toEqual(patched.json());
  });

  it('patches plan, display name, domain and suspension, and the limits follow the plan', async () => {
    const name = uniqueName('patch');
    const { tenantId, jobId } = (await api.call('POST', '/v1/tenants', { body: { name } })).json();
    await api.waitForJob(jobId);

    const patched = await api.call('PATCH', `/v1/tenants/${tenantId}`, {
      body: { plan: 'enterprise', displayName: 'Patched', domain: `${name}.example.net`, status: 'suspended' },
    });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({
      plan: 'enterprise',
      displayName: 'Patched',
      domain: `${name}.example.net`,
      status: 'suspended',
      limits: { apiCallsPerMonth: 1_000_000, maxCollections: 500 },
    });
    const resumed = await api.call('PATCH', `/v1/tenants/${name}`, { body: { status: 'active', displayName: null } });
    expect(resumed.json()).toMatchObject({ status: 'active', displayName: null });
  });

  it('deprovisions: confirm required, database dropped, secrets gone, row kept as deleted, name free again', async () => {
    const name = uniqueName('bye');
    const created = (
      await api.call('POST', '/v1/tenants', {
        body: {
          name,
          storage: {
            provider: 'aws_s3',
            config: {
              access_key: 'AKIAEXAMPLEKEY',
              secret_key: 'very-secret-key-value',
              region: 'us-west-2',
              bucket: 'deeplens-bye',
            },
          },
        },
      })
    ).json();
    await api.waitForJob(created.jobId);
    const database = `${env.DEEPLENS_DB_PREFIX}tenant_${name.replace(/-/g, '_')}_metadata`;
    expect(await databaseExists(database)).toBe(true);

    const missing = await api.call('DELETE', `/v1/tenants/${created.tenantId}`);
    expect(missing.statusCode).toBe(400);
    const wrong = await api.call('DELETE', `/v1/tenants/${created.tenantId}?confirm=someone-else`);
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json().error.code).toBe('validation_failed');

    const removed = await api.call('DELETE', `/v1/tenants/${created.tenantId}?confirm=${name}`);
    expect(removed.statusCode).toBe(202);
    const job = await api.waitForJob(removed.json().jobId);
    expect(job).toMatchObject({ type: 'tenant.deprovision', state: 'completed' });

    const tenant = (await api.call('GET', `/v1/tenants/${created.tenantId}`)).json();
    expect(tenant).toMatchObject({ status: 'deleted', databases: [], storage: null });
    await quotaStateBecomes(created.tenantId, 'deleted');
    expect(await databaseExists(database)).toBe(false);
    const secretsLeft = await withClient(platformUrl, async (client) => {
      const { rows } = await client.query(
        'SELECT count(*)::int AS n FROM tenant_storage_configs WHERE tenant_id = $1',
        [created.tenantId],
      );
      return rows[0].n;
    });
    expect(secretsLeft).toBe(0);

    const reborn = await api.call('POST', '/v1/tenants', { body: { name } });
    expect(reborn.statusCode).toBe(202);
    await api.waitForJob(reborn.json().jobId);
    expect((await api.call('GET', `/v1/tenants/${name}`)).json()).toMatchObject({
      status: 'active',
      id: reborn.json().tenantId,
    });
  });

  it('deprovisions at the first attempt: the job reaches the queue only once the transaction that asked for it has committed', async () => {
    const name = uniqueName('race');
    const created = (await api.call('POST', '/v1/tenants', { body: { name } })).json();
    await api.waitForJob(created.jobId);
    // What DELETE does, through the API's outbox: the row moved to deprovisioning and the job recorded, in one transaction.
    const jobId = await api.deps.outbox.transaction(async (trx, record) => {
      await trx.query(
        sql.typeAlias(
          'void',
        )`UPDATE tenants SET status = 'deprovisioning', updated_at = now() WHERE id = ${created.tenantId}`,
      );
      const recorded = await record.job('tenant.deprovision', { tenantId: created.tenantId });
      // Not committed yet: no worker can take the job, and no other session (a sweep) sees it.
      expect(await api.deps.producer.find(recorded)).toBeNull();
      const seen = await withClient(
        platformUrl,
        async (client) => (await client.query('SELECT 1 FROM outbox WHERE id = $1', [recorded])).rowCount,
      );
      expect(seen).toBe(0);
      return recorded;
    });
    expect(await api.waitForJob(jobId)).toMatchObject({ state: 'completed', attempts: 1 });
    expect((await api.call('GET', `/v1/tenants/${created.tenantId}`)).json()).toMatchObject({
      status: 'deleted',
      databases: [],
    });
  });

  it('accepts a creation whose job Redis did not take after the commit: shown waiting, then queued by the sweep and provisioned', async () => {
    // The publication after the commit fails, as it does when Redis goes away at that moment.
    armFailpoints('test', ['outbox.before-publish:error']);
    let created: Awaited<ReturnType<typeof api.call>>;
    try {
      created = await api.call('POST', '/v1/tenants', { body: { name: uniqueName('stranded') } });
    } finally {
      armFailpoints('test', []);
    }
    expect(created.statusCode).toBe(202);
    const { tenantId, jobId } = created.json();
    expect(await api.deps.producer.find(jobId)).toBeNull();
    expect((await api.call('GET', `/v1/jobs/${jobId}`)).json()).toMatchObject({
      id: jobId,
      type: 'tenant.provision',
      tenantId,
      state: 'waiting',
      attempts: 0,
    });

    // A short grace period: the sweep leaves rows to a writer publishing them right now, and takes the rest at once.
    const dispatcher = await startService('event-dispatcher', {
      ...env,
      DEEPLENS_OUTBOX_GRACE_MS: '1000',
      DEEPLENS_OUTBOX_INTERVAL_MS: '200',
    });
    try {
      expect(await api.waitForJob(jobId)).toMatchObject({ state: 'completed', attempts: 1 });
    } finally {
      await dispatcher.stop();
    }
    expect((await api.call('GET', `/v1/tenants/${tenantId}`)).json()).toMatchObject({ status: 'active' });
  });
});
