import { randomUUID } from 'node:crypto';
import { openPlatformPool, platformNames, pruneExpiredRecords, withClient, withDatabase } from '@deeplens/shared';
import { uniqueName } from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** Records past their retention go; newer ones stay. Run as platform_service, as the provisioner runs it. */
const env = {
  DATABASE_URL: process.env.DATABASE_URL!,
  DEEPLENS_DB_PREFIX: process.env.DEEPLENS_DB_PREFIX!,
  DEEPLENS_PLATFORM_SERVICE_PASSWORD: undefined,
  DEEPLENS_PLATFORM_POOL_SIZE: 2,
};
const platformDatabase = withDatabase(env.DATABASE_URL, platformNames(env.DEEPLENS_DB_PREFIX).platformDatabase);
const tenantId = randomUUID();
const ids = { oldJob: randomUUID(), newJob: randomUUID(), oldKey: `hk-${randomUUID()}`, newKey: `hk-${randomUUID()}` };
const verificationJobs = { old: randomUUID(), recent: randomUUID() };

beforeAll(async () => {
  await withClient(platformDatabase, async (client) => {
    await client.query("INSERT INTO tenants (id, name, plan, status) VALUES ($1, $2, 'free', 'active')", [
      tenantId,
      uniqueName('tidy'),
    ]);
    await client.query(
      `INSERT INTO job_records (id, type, state, created_at, finished_at) VALUES
         ($1, 'tenant.provision', 'completed', now() - interval '40 days', now() - interval '31 days'),
         ($2, 'tenant.provision', 'completed', now() - interval '9 days', now() - interval '8 days')`,
      [ids.oldJob, ids.newJob],
    );
    await client.query(
      `INSERT INTO idempotency_keys (key, principal, request_hash, state, expires_at) VALUES
         ($1, 'admin:x', 'h', 'done', now() - interval '1 minute'), ($2, 'admin:x', 'h', 'done', now() + interval '1 hour')`,
      [ids.oldKey, ids.newKey],
    );
    await client.query(
      `INSERT INTO storage_verifications (tenant_id, job_id, config_version, provider, status, started_at, finished_at) VALUES
         ($1, $2, 1, 'nfs', 'verified', now() - interval '100 days', now() - interval '100 days'),
         ($1, $3, 2, 'nfs', 'verified', now() - interval '1 day', now() - interval '1 day')`,
      [tenantId, verificationJobs.old, verificationJobs.recent],
    );
  });
});

describe('pruning expired records', () => {
  let pool: Awaited<ReturnType<typeof openPlatformPool>>;
  afterAll(async () => pool?.end());

  it('removes job records past retention, expired idempotency keys and old verifications, and nothing newer', async () => {
    pool = await openPlatformPool(env);
    const pruned = await pruneExpiredRecords(pool, { jobRecordDays: 30, verificationDays: 90 });
    expect(pruned.jobRecords).toBeGreaterThanOrEqual(1);
    expect(pruned.idempotencyKeys).toBeGreaterThanOrEqual(1);
    expect(pruned.verifications).toBeGreaterThanOrEqual(1);
    await withClient(platformDatabase, async (client) => {
      const jobs = await client.query('SELECT id FROM job_records WHERE id = ANY($1)', [[ids.oldJob, ids.newJob]]);
      expect(jobs.rows).toEqual([{ id: ids.newJob }]);
      const keys = await client.query('SELECT key FROM idempotency_keys WHERE key = ANY($1)', [
        [ids.oldKey, ids.newKey],
      ]);
      expect(keys.rows).toEqual([{ key: ids.newKey }]);
      const checks = await client.query('SELECT job_id FROM storage_verifications WHERE tenant_id = $1', [tenantId]);
      expect(checks.rows).toEqual([{ job_id: verificationJobs.recent }]);
    });
    // Running it again keeps what is within retention.
    await pruneExpiredRecords(pool, { jobRecordDays: 30, verificationDays: 90 });
    await withClient(platformDatabase, async (client) => {
      expect((await client.query('SELECT 1 FROM job_records WHERE id = $1', [ids.newJob])).rowCount).toBe(1);
      expect(
        (await client.query('SELECT 1 FROM storage_verifications WHERE job_id = $1', [verificationJobs.recent]))
          .rowCount,
      ).toBe(1);
    });
  });
});
