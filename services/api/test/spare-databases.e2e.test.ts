import {
  platformNames,
  rowLevelSecurityProblems,
  tenantDatabaseName,
  withClient,
  withDatabase,
} from '@deeplens/shared';
import { startService, testEnv, uniqueName, waitFor, type ServiceProcess } from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platformQuery, startTestApi, type TestApi } from './helpers.js';

/**
 * The pool of spare tenant databases: clones migrated and proven isolated
 * ahead of demand, claimed by a provisioning through a rename. Claims, the
 * refill, stale and half-made spares, and a provisioner killed in the middle
 * of a claim.
 */
const env = testEnv({ DEEPLENS_SPARE_DATABASES: '2' });
const names = platformNames(env.DEEPLENS_DB_PREFIX!);
let api: TestApi;
let provisioner: ServiceProcess | undefined;

const query = platformQuery(env);
const serverQuery = <T>(text: string, values: unknown[] = []) =>
  withClient(env.DATABASE_URL!, async (client) => (await client.query(text, values)).rows as T[]);

const readySpares = () =>
  query<{ database_name: string; template_version: string }>(
    'SELECT database_name, template_version FROM spare_databases WHERE claimed_by IS NULL ORDER BY created_at',
  );
const spareDatabases = async () =>
  (
    await serverQuery<{ datname: string }>(
      'SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY datname',
      [names.spareDatabasePrefix],
    )
  ).map((row) => row.datname);
const databaseOf = (name: string) => tenantDatabaseName(env.DEEPLENS_DB_PREFIX!, name);

/** Waits until the pool holds `count` ready spares at the current version, each an existing database. */
async function untilPoolHolds(count: number) {
  return waitFor(
    async () => {
      const [ready, databases] = await Promise.all([readySpares(), spareDatabases()]);
      const current = ready.filter((spare) => spare.template_version !== 'stale');
      return current.length === count &&
        ready.length === count &&
        databases.length === count &&
        ready.every((spare) => databases.includes(spare.database_name))
        ? ready.map((spare) => spare.database_name)
        : undefined;
    },
    { what: `${count} ready spare databases`, timeoutMs: 30_000 },
  );
}

/** How the provisioning got the tenant its database ('claimed', 'created', 'existed'), from its audit entry. */
async function sourceOf(tenantId: string) {
  const [audit] = await query<{ cloned: string }>(
    `SELECT details->>'cloned' AS cloned FROM audit_log WHERE tenant_id = $1 AND action = 'tenant.provisioned'`,
    [tenantId],
  );
  return audit?.cloned;
}
const oidOf = async (database: string) =>
  (await serverQuery<{ oid: string }>('SELECT oid::text AS oid FROM pg_database WHERE datname = $1', [database]))[0]
    ?.oid;

async function provision(name: string) {
  const { tenantId, jobId } = (await api.call('POST', '/v1/tenants', { body: { name } })).json();
  const job = await api.waitForJob(jobId, 60_000);
  expect(job.state).toBe('completed');
  return { tenantId, source: await sourceOf(tenantId) };
}

/**
 * Swaps the healthy provisioner for one killed (-9) right after it claims a spare for a new
 * tenant, before the rename; the job is left for the next provisioner.
 */
async function claimThenCrash(label: string) {
  await untilPoolHolds(2);
  await provisioner!.stop();
  const crashing = await startService('provisioner', { ...env, DEEPLENS_FAILPOINTS: 'provision.after-claim' });
  const name = uniqueName(label);
  const { tenantId, jobId } = (await api.call('POST', '/v1/tenants', { body: { name } })).json();
  await crashing.exited;
  expect(crashing.child.signalCode).toBe('SIGKILL');
  const [claimed] = await query<{ database_name: string }>(
    'SELECT database_name FROM spare_databases WHERE claimed_by = $1',
    [tenantId],
  );
  expect(claimed).toBeDefined();
  const spare = claimed!.database_name;
  expect(await spareDatabases()).toContain(spare); // claimed, not yet renamed
  return { name, tenantId, jobId, spare, spareOid: await oidOf(spare) };
}

/** The tenant database is the template's schema, isolated by the provisioner's own RLS check, like any clone. */
async function expectIsolatedTenantDatabase(database: string) {
  const { tables, problems } = await withClient(withDatabase(env.DATABASE_URL!, database), async (client) => ({
    tables: (
      await client.query<{ name: string }>(`SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'`)
    ).rows,
    problems: await rowLevelSecurityProblems(client, platformNames(env.DEEPLENS_DB_PREFIX!).tenantRole),
  }));
  expect(tables.map((table) => table.name)).toContain('images');
  expect(problems).toEqual([]);
}

beforeAll(async () => {
  api = await startTestApi(env);
  provisioner = await startService('provisioner', env);
});
afterAll(async () => {
  await provisioner?.stop();
  await api?.close();
});

describe('spare tenant databases', () => {
  it('provisions by renaming a ready spare, refills the pool, and replaces spares of another template version', async () => {
    const [first] = await untilPoolHolds(2);

    const alpha = uniqueName('spare');
    expect(await provision(alpha)).toMatchObject({ source: 'claimed' });
    expect(await spareDatabases()).not.toContain(first); // the oldest spare became the tenant's database
    await expectIsolatedTenantDatabase(databaseOf(alpha));

    // Refilled after the claim. A spare of another template version is never claimed, and the refill replaces it.
    const [stale, current] = await untilPoolHolds(2);
    await query(`UPDATE spare_databases SET template_version = 'stale' WHERE database_name = $1`, [stale]);
    const beta = uniqueName('spare');
    expect(await provision(beta)).toMatchObject({ source: 'claimed' });
    const after = await untilPoolHolds(2);
    expect(await spareDatabases()).not.toContain(stale);
    expect(await spareDatabases()).not.toContain(current); // it was the one claimed
    expect(after).not.toContain(stale);
    await expectIsolatedTenantDatabase(databaseOf(beta));

    // Every refill ended cleanly: an earlier version released its lock with a query whose
    // result failed its row schema, so each refill did its work and was then logged as failed.
    const log = provisioner!.output.join('');
    expect(log).toContain('spare tenant databases refilled');
    expect(log).not.toContain('refilling spare tenant databases failed');
  });

  it('finishes a claim whose provisioner was killed (-9) between claim and rename, and drops a half-made spare', async () => {
    const { name, tenantId, jobId, spare, spareOid } = await claimThenCrash('spare-crash');

    // A spare database with no row: what a refill killed between its clone and its registration leaves.
    const halfMade = `${names.spareDatabasePrefix}0000deadbeef0000`;
    await serverQuery(`CREATE DATABASE "${halfMade}" TEMPLATE "${names.templateDatabase}"`);

    provisioner = await startService('provisioner', env);
    const job = await api.waitForJob(jobId, 60_000);
    expect(job.state).toBe('completed');
    expect((await api.call('GET', `/v1/tenants/${tenantId}`)).json()).toMatchObject({
      status: 'active',
      databases: [{ type: 'metadata', name: databaseOf(name) }],
    });
    expect(await spareDatabases()).not.toContain(spare);
    expect(await oidOf(databaseOf(name))).toBe(spareOid); // renamed: the same clone, now the tenant's
    expect(await query('SELECT 1 FROM spare_databases WHERE claimed_by = $1', [tenantId])).toEqual([]);
    await untilPoolHolds(2);
    expect(await spareDatabases()).not.toContain(halfMade);
    await expectIsolatedTenantDatabase(databaseOf(name));
  });

  it('gives up a claim made under another template version: the retry takes a current spare or clones, and drops the stale one', async () => {
    const { name, tenantId, jobId, spare, spareOid } = await claimThenCrash('spare-deploy');
    // As if a deploy with a newer template came between the claim and the retry.
    await query(`UPDATE spare_databases SET template_version = 'stale' WHERE database_name = $1`, [spare]);

    provisioner = await startService('provisioner', env);
    const job = await api.waitForJob(jobId, 60_000);
    expect(job.state).toBe('completed');
    expect(['claimed', 'created']).toContain(await sourceOf(tenantId));
    expect(await oidOf(databaseOf(name))).not.toBe(spareOid); // not the stale spare renamed
    expect(await query('SELECT 1 FROM spare_databases WHERE claimed_by = $1', [tenantId])).toEqual([]);
    await untilPoolHolds(2);
    expect(await spareDatabases()).not.toContain(spare);
    await expectIsolatedTenantDatabase(databaseOf(name));
  });

  it('drops the surplus when the pool is made smaller, keeping the oldest spare', async () => {
    const [oldest, newest] = await untilPoolHolds(2);
    await provisioner!.stop();
    provisioner = await startService('provisioner', { ...env, DEEPLENS_SPARE_DATABASES: '1' });
    expect(await untilPoolHolds(1)).toEqual([oldest]);
    expect(await spareDatabases()).not.toContain(newest);
    await provisioner.stop();
    provisioner = await startService('provisioner', env);
    await untilPoolHolds(2);
  });
});
