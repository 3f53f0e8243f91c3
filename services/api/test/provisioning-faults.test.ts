import { tmpdir } from 'node:os';
import { platformNames, withClient, withDatabase } from '@deeplens/shared';
import { startService, testEnv, uniqueName, waitFor } from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platformQuery, startTestApi, type TestApi } from './helpers.js';

/**
 * Provisioning under pressure and faults: 20 at once while someone holds the
 * template open, a worker killed between clone and registration, a permanent
 * failure that must leave nothing behind, and a SIGTERM mid-job.
 */
const env = testEnv();
const names = platformNames(env.DEEPLENS_DB_PREFIX!);
let api: TestApi;

beforeAll(async () => {
  api = await startTestApi(env);
});
afterAll(async () => {
  await api?.close();
});

const query = platformQuery(env);

const databaseCount = async (database: string) =>
  withClient(env.DATABASE_URL!, async (client) => {
    const { rows } = await client.query('SELECT count(*)::int AS n FROM pg_database WHERE datname = $1', [database]);
    return rows[0].n as number;
  });

const databaseOf = (name: string) => `${env.DEEPLENS_DB_PREFIX}tenant_${name.replace(/-/g, '_')}_metadata`;

describe('provisioning under load and faults', () => {
  it('provisions 20 tenants at once, even while another session holds the template open for a while', async () => {
    const provisioner = await startService('provisioner', { ...env, DEEPLENS_WORKER_CONCURRENCY: '20' });
    try {
      // A session connected to the template makes CREATE DATABASE fail with 55006 until it leaves.
      // Connected before the first request, so the first clones are certain to meet 55006 and retry.
      let connected!: () => void;
      const squatterIn = new Promise<void>((done) => (connected = done));
      const squatter = withClient(withDatabase(env.DATABASE_URL!, names.templateDatabase), async (client) => {
        connected();
        await client.query('SELECT pg_sleep(1.5)');
      });
      await squatterIn;
      const requested = await Promise.all(
        Array.from({ length: 20 }, (_, index) =>
          api.call('POST', '/v1/tenants', { body: { name: uniqueName(`burst${index}`) } }),
        ),
      );
      expect(requested.map((response) => response.statusCode)).toEqual(Array(20).fill(202));
      const jobs = await Promise.all(requested.map((response) => api.waitForJob(response.json().jobId, 90_000)));
      await squatter;
      expect(jobs.map((job) => job.state)).toEqual(Array(20).fill('completed'));
      for (const response of requested) {
        const tenant = (await api.call('GET', `/v1/tenants/${response.json().tenantId}`)).json();
        expect(tenant.status).toBe('active');
        expect(await databaseCount(tenant.databases[0].name)).toBe(1);
      }
    } finally {
      await provisioner.stop();
    }
  });

  it('finishes a provisioning whose worker was killed (-9) between clone and registration, with one database', async () => {
    const crashing = await startService('provisioner', { ...env, DEEPLENS_FAILPOINTS: 'provision.after-clone' });
    const name = uniqueName('crash');
    const { tenantId, jobId } = (await api.call('POST', '/v1/tenants', { body: { name } })).json();
    const exitCode = await crashing.exited;
    expect(exitCode).toBeNull(); // killed by a signal, not exited
    expect(crashing.child.signalCode).toBe('SIGKILL');
    expect(await databaseCount(databaseOf(name))).toBe(1);
    expect((await api.call('GET', `/v1/tenants/${tenantId}`)).json()).toMatchObject({
      status: 'provisioning',
      databases: [],
    });

    const healthy = await startService('provisioner', env);
    try {
      const job = await api.waitForJob(jobId, 60_000);
      expect(job.state).toBe('completed');
      const tenant = (await api.call('GET', `/v1/tenants/${tenantId}`)).json();
      expect(tenant).toMatchObject({ status: 'active', databases: [{ type: 'metadata', name: databaseOf(name) }] });
      expect(await databaseCount(databaseOf(name))).toBe(1);
      const registrations = await query<{ n: number }>(
        'SELECT count(*)::int AS n FROM tenant_databases WHERE tenant_id = $1',
        [tenantId],
      );
      expect(registrations[0]!.n).toBe(1);
    } finally {
      await healthy.stop();
    }
  });

  it('undoes a permanent failure: no database, no registration, no stored secrets, tenant failed with a reason', async () => {
    const provisioner = await startService('provisioner', {
      ...env,
      DEEPLENS_FAILPOINTS: 'provision.after-register:error',
    });
    try {
      const name = uniqueName('doomed');
      const { tenantId, jobId } = (
        await api.call('POST', '/v1/tenants', {
          body: {
            name,
            storage: { provider: 'nfs', config: { mount_path: `${tmpdir()}/doomed` } },
          },
        })
      ).json();
      const job = await api.waitForJob(jobId);
      expect(job).toMatchObject({ state: 'failed', error: { code: 'injected_failure' } });
      expect(job.attempts).toBe(1); // permanent: not retried
      const tenant = (await api.call('GET', `/v1/tenants/${tenantId}`)).json();
      expect(tenant).toMatchObject({ status: 'failed', databases: [], storage: null });
      expect(tenant.statusReason).toMatch(/failpoint/);
      expect(await databaseCount(databaseOf(name))).toBe(0);
      const live = await query<{ n: number }>(
        'SELECT count(*)::int AS n FROM tenant_databases WHERE tenant_id = $1 AND dropped_at IS NULL',
        [tenantId],
      );
      expect(live[0]!.n).toBe(0);

      // The failed tenant can be removed, which frees its name.
      const removed = await api.call('DELETE', `/v1/tenants/${tenantId}?confirm=${name}`);
      expect(removed.statusCode).toBe(202);
      expect((await api.waitForJob(removed.json().jobId)).state).toBe('completed');
    } finally {
      await provisioner.stop();
    }
  });

  it('drains on SIGTERM: the job under way completes and the worker exits cleanly', async () => {
    const provisioner = await startService('provisioner', {
      ...env,
      DEEPLENS_FAILPOINTS: 'provision.after-clone:delay=1500',
    });
    const { tenantId, jobId } = (await api.call('POST', '/v1/tenants', { body: { name: uniqueName('drain') } })).json();
    await waitFor(
      async () => ((await api.call('GET', `/v1/jobs/${jobId}`)).json().state === 'active' ? true : undefined),
      {
        what: 'the job to start',
      },
    );
    const exitCode = await provisioner.stop('SIGTERM');
    expect(exitCode).toBe(0);
    const job = (await api.call('GET', `/v1/jobs/${jobId}`)).json();
    expect(job.state).toBe('completed');
    expect((await api.call('GET', `/v1/tenants/${tenantId}`)).json().status).toBe('active');
  });
});
