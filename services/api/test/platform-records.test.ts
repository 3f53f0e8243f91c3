import { randomUUID } from 'node:crypto';
import { platformNames, withClient, withDatabase } from '@deeplens/shared';
import {
  TEST_ADMIN_TOKEN,
  startService,
  testEnv,
  uniqueName,
  waitFor,
  type ServiceProcess,
} from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platformQuery, startTestApi, type TestApi } from './helpers.js';

/** What the platform keeps: job records after Redis lets go, the audit log, and no secret in either. */
const env = testEnv({ DEEPLENS_RECONCILE_INTERVAL_MS: '300', DEEPLENS_RECONCILE_AFTER_SECONDS: '1' });
const names = platformNames(env.DEEPLENS_DB_PREFIX!);
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

const platform = platformQuery(env);

describe('platform records', () => {
  it('answers a finished job from the platform database once Redis no longer holds it', async () => {
    const { jobId } = (await api.call('POST', '/v1/tenants', { body: { name: uniqueName('archived') } })).json();
    const live = await api.waitForJob(jobId);
    await waitFor(
      async () => ((await platform('SELECT 1 FROM job_records WHERE id = $1', [jobId])).length ? true : undefined),
      {
        what: 'the job record',
      },
    );
    await api.deps.producer.queue('provisioning').remove(jobId);
    expect(await api.deps.producer.find(jobId)).toBeNull();
    const archived = (await api.call('GET', `/v1/jobs/${jobId}`)).json();
    expect(archived).toEqual({ ...live, progress: archived.progress });
    expect(archived.state).toBe('completed');
  });

  it('audits every admin action with the actor as a token fingerprint, never the token or a secret', async () => {
    const name = uniqueName('audited');
    const secret = `s3-secret-${randomUUID()}`;
    const { tenantId, jobId } = (
      await api.call('POST', '/v1/tenants', {
        body: {
          name,
          storage: {
            provider: 'aws_s3',
            config: { access_key: 'AKIAAUDIT', secret_key: secret, region: 'eu-west-1', bucket: 'audit-bkt' },
          },
        },
      })
    ).json();
    await api.waitForJob(jobId);
    await api.call('PATCH', `/v1/tenants/${tenantId}`, { body: { plan: 'premium' } });
    const removed = (await api.call('DELETE', `/v1/tenants/${tenantId}?confirm=${name}`)).json();
    await api.waitForJob(removed.jobId);

    const entries = await platform<{ actor: string; action: string; details: unknown }>(
      'SELECT actor, action, details FROM audit_log WHERE tenant_id = $1 ORDER BY id',
      [tenantId],
    );
    expect(
      entries.map((entry) => entry.action),
      JSON.stringify(entries),
    ).toEqual(['tenant.create', 'tenant.provisioned', 'tenant.update', 'tenant.delete', 'tenant.deprovisioned']);
    expect(entries[0]!.actor).toMatch(/^admin:[0-9a-f]{12}$/);
    const everything = JSON.stringify(entries);
    expect(everything).not.toContain(TEST_ADMIN_TOKEN);
    expect(everything).not.toContain(secret);

    // Nor in the job record, the job payload, or any answer.
    const jobText = JSON.stringify(await platform('SELECT * FROM job_records WHERE tenant_id = $1', [tenantId]));
    expect(jobText).not.toContain(secret);
    expect((await api.call('GET', `/v1/tenants/${tenantId}`)).body).not.toContain(secret);
  });

  it('re-enqueues a tenant left provisioning without a job (the API died between commit and enqueue)', async () => {
    const tenantId = randomUUID();
    const name = uniqueName('orphan');
    await platform(
      "INSERT INTO tenants (id, name, plan, status, updated_at) VALUES ($1, $2, 'free', 'provisioning', now() - interval '1 minute')",
      [tenantId, name],
    );
    const tenant = await waitFor(
      async () => {
        const body = (await api.call('GET', `/v1/tenants/${tenantId}`)).json();
        return body.status === 'active' ? body : undefined;
      },
      { timeoutMs: 30_000, what: 'the reconciler to provision the orphan' },
    );
    expect(tenant.databases).toHaveLength(1);
  });

  it('keeps identity data apart by tenant: memberships and users are visible only within the current tenant', async () => {
    const identity = withDatabase(env.DATABASE_URL!, names.identityDatabase);
    const [tenantA, tenantB] = [randomUUID(), randomUUID()];
    const [alice, bob] = [randomUUID(), randomUUID()];
    await withClient(identity, async (admin) => {
      await admin.query('INSERT INTO users (id, email) VALUES ($1, $2), ($3, $4)', [
        alice,
        `${alice}@a.test`,
        bob,
        `${bob}@b.test`,
      ]);
      await admin.query(
        "INSERT INTO tenant_memberships (tenant_id, user_id, role_id) VALUES ($1, $2, 'owner'), ($3, $4, 'member')",
        [tenantA, alice, tenantB, bob],
      );
    });
    const asIdentityService = new URL(identity);
    asIdentityService.username = names.identityRole;
    await withClient(asIdentityService.toString(), async (client) => {
      await client.query('SELECT set_tenant_context($1)', [tenantA]);
      expect((await client.query('SELECT user_id FROM tenant_memberships')).rows).toEqual([{ user_id: alice }]);
      expect((await client.query('SELECT id FROM users WHERE id = ANY($1)', [[alice, bob]])).rows).toEqual([
        { id: alice },
      ]);
      await expect(
        client.query("INSERT INTO tenant_memberships (tenant_id, user_id, role_id) VALUES ($1, $2, 'admin')", [
          tenantB,
          alice,
        ]),
      ).rejects.toMatchObject({ code: '42501' });
    });
  });
});
