import { readFileSync } from 'node:fs';
import { randomBytes, randomUUID } from 'node:crypto';
import { platformNames, tenantLoginRoleName, withClient, withCredentials, withDatabase } from '@deeplens/shared';
import {
  freePort,
  httpApiClient,
  startService,
  tenantLoginUri,
  testEnv,
  uniqueName,
  waitFor,
  type ServiceProcess,
} from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Least privilege in PostgreSQL, as the processes of `npm start` hold it:
 * only the provisioner has the admin DATABASE_URL, the other four connect as
 * platform_service, and each tenant database opens to its own tenant's login
 * role only. Tenant logins are read from the platform's sealed store, with
 * their real passwords, as the aggregator reads them.
 */
const appName = `privileges-${randomBytes(3).toString('hex')}`;
const SERVICES = ['api', 'storage-verifier', 'event-dispatcher', 'usage-aggregator'] as const;
let env: Record<string, string>;
const names = platformNames(process.env.DEEPLENS_DB_PREFIX!);
const running = new Map<string, ServiceProcess>();
let call: ReturnType<typeof httpApiClient>;

const admin = <T>(text: string, values: unknown[] = [], database?: string) =>
  withClient(
    database ? withDatabase(env.DATABASE_URL!, database) : env.DATABASE_URL!,
    async (client) => (await client.query(text, values)).rows as T[],
  );
const loginEnv = () => ({
  DATABASE_URL: env.DATABASE_URL!,
  DEEPLENS_DB_PREFIX: env.DEEPLENS_DB_PREFIX!,
  DEEPLENS_ENCRYPTION_KEY: env.DEEPLENS_ENCRYPTION_KEY!,
});
/** The error PostgreSQL answers a connection with, or 'connected'. */
const tryConnect = (uri: string) =>
  withClient(uri, async () => 'connected').catch(
    (error: { code?: string; message: string }) => `${error.code}: ${error.message}`,
  );

beforeAll(async () => {
  const port = await freePort();
  env = testEnv({ HOST: '127.0.0.1', PORT: String(port), DEEPLENS_USAGE_RESOURCES_INTERVAL_MS: '300' });
  // PGAPPNAME names each process's sessions in pg_stat_activity.
  // One after another: five processes compiling at once on two shared cores outlast any start timeout.
  for (const service of ['provisioner', ...SERVICES]) {
    running.set(
      service,
      await startService(service, { ...env, PGAPPNAME: `${appName}-${service}` }, { timeoutMs: 60_000 }),
    );
  }
  call = httpApiClient(`http://127.0.0.1:${port}`);
});

afterAll(async () => {
  await Promise.all([...running.values()].map((service) => service.stop()));
});

async function provisionTenant() {
  const created = await call('POST', '/v1/tenants', { name: uniqueName('priv') });
  expect(created.status, created.text).toBe(202);
  const { tenantId, jobId } = created.json();
  await waitFor(
    async () =>
      ['completed', 'failed'].includes((await call('GET', `/v1/jobs/${jobId}`)).json().state) ? true : undefined,
    {
      what: 'provisioning',
    },
  );
  const tenant = (await call('GET', `/v1/tenants/${tenantId}`)).json();
  expect(tenant.status).toBe('active');
  return { id: tenantId as string, name: tenant.name as string, database: tenant.databases[0].name as string };
}

describe('service processes', () => {
  it('runs the API, verifier, dispatcher and aggregator without DATABASE_URL, as platform_service with no power beyond its grants', async () => {
    for (const service of SERVICES) {
      const environ = readFileSync(`/proc/${running.get(service)!.child.pid}/environ`, 'utf8').split('\0');
      expect(
        environ.filter((entry) => entry.startsWith('DATABASE_URL=')),
        service,
      ).toEqual([]);
      // The URL its platform pool opens (platformDatabaseUri) names platform_service.
      const platformUrl = environ
        .find((entry) => entry.startsWith('DEEPLENS_PLATFORM_DATABASE_URL='))
        ?.slice('DEEPLENS_PLATFORM_DATABASE_URL='.length);
      expect(new URL(platformUrl!).username, service).toBe(names.platformRole);
    }
    const provisioner = readFileSync(`/proc/${running.get('provisioner')!.child.pid}/environ`, 'utf8');
    expect(provisioner).toContain('DATABASE_URL=');

    // And the sessions they hold say so (idle pools close after 10 s: the API is given work, the aggregator measures every 300 ms).
    const sessions = await waitFor(
      async () => {
        await call('GET', '/v1/tenants');
        const rows = await admin<{ app: string; usename: string }>(
          'SELECT DISTINCT application_name AS app, usename FROM pg_stat_activity WHERE datname = $1 AND starts_with(application_name, $2)',
          [names.platformDatabase, appName],
        );
        return ['api', 'usage-aggregator'].every((service) => rows.some((row) => row.app === `${appName}-${service}`))
          ? rows
          : undefined;
      },
      { what: 'the API and the aggregator connected to the platform database' },
    );
    expect(
      sessions.filter((row) => SERVICES.some((service) => row.app === `${appName}-${service}`)).length,
    ).toBeGreaterThanOrEqual(2);
    expect(new Set(sessions.filter((row) => row.app !== `${appName}-provisioner`).map((row) => row.usename))).toEqual(
      new Set([names.platformRole]),
    );
    const [role] = await admin(
      'SELECT rolsuper, rolcreatedb, rolcreaterole, rolbypassrls, rolreplication FROM pg_roles WHERE rolname = $1',
      [names.platformRole],
    );
    expect(role).toEqual({
      rolsuper: false,
      rolcreatedb: false,
      rolcreaterole: false,
      rolbypassrls: false,
      rolreplication: false,
    });
  });
});

describe("a tenant's login role", () => {
  it("is refused by another tenant's database, the platform's, the identity's and the template, with its real password", async () => {
    const [a, b] = [await provisionTenant(), await provisionTenant()];
    const own = await tenantLoginUri(loginEnv(), a.id);
    expect(new URL(own).username).toBe(tenantLoginRoleName(env.DEEPLENS_DB_PREFIX!, a.id));
    expect(await tryConnect(own)).toBe('connected');
    for (const database of [b.database, names.platformDatabase, names.identityDatabase, names.templateDatabase]) {
      expect(await tryConnect(withDatabase(own, database)), database).toMatch(/^42501: permission denied for database/);
    }
    // Not even through a membership: the group holds no CONNECT anywhere, and cannot log in.
    const group = withCredentials(withDatabase(env.DATABASE_URL!, a.database), names.tenantRole, undefined);
    expect(await tryConnect(group)).toMatch(/^28000: role ".*" is not permitted to log in/);
  });

  it('sees no row in its own database before set_tenant_context, and only its own after', async () => {
    const a = await provisionTenant();
    const other = randomUUID();
    await withClient(withDatabase(env.DATABASE_URL!, a.database), async (client) => {
      for (const [tenant, name] of [
        [a.id, 'mine'],
        [other, 'planted'],
      ]) {
        await client.query('BEGIN');
        await client.query('SELECT set_tenant_context($1, true)', [tenant]);
        await client.query('INSERT INTO image_collections (tenant_id, name) VALUES ($1, $2)', [tenant, name]);
        await client.query('COMMIT');
      }
    });
    await withClient(await tenantLoginUri(loginEnv(), a.id), async (client) => {
      expect((await client.query('SELECT name FROM image_collections')).rows).toEqual([]);
      await client.query('SELECT set_tenant_context($1)', [a.id]);
      expect((await client.query('SELECT name FROM image_collections')).rows).toEqual([{ name: 'mine' }]);
    });
  });

  it('keeps no password in clear: the platform holds it sealed, PostgreSQL a SCRAM verifier; deprovisioning drops the role', async () => {
    const a = await provisionTenant();
    const password = new URL(await tenantLoginUri(loginEnv(), a.id)).password;
    const [stored] = await admin<{ password_sealed: string }>(
      'SELECT password_sealed FROM tenant_db_roles WHERE tenant_id = $1',
      [a.id],
      names.platformDatabase,
    );
    expect(stored!.password_sealed).toMatch(/^v1\./);
    expect(stored!.password_sealed).not.toContain(decodeURIComponent(password));
    const role = tenantLoginRoleName(env.DEEPLENS_DB_PREFIX!, a.id);
    const [authid] = await admin<{ rolpassword: string; rolinherit: boolean; rolbypassrls: boolean }>(
      'SELECT rolpassword, rolinherit, rolbypassrls FROM pg_authid WHERE rolname = $1',
      [role],
    );
    expect(authid).toMatchObject({
      rolpassword: expect.stringMatching(/^SCRAM-SHA-256\$/),
      rolinherit: true,
      rolbypassrls: false,
    });

    const deleted = await call('DELETE', `/v1/tenants/${a.id}?confirm=${a.name}`);
    expect(deleted.status, deleted.text).toBe(202);
    await waitFor(
      async () => ((await admin('SELECT 1 FROM pg_roles WHERE rolname = $1', [role])).length === 0 ? true : undefined),
      {
        what: 'the role dropped',
      },
    );
    expect(await admin('SELECT 1 FROM tenant_db_roles WHERE tenant_id = $1', [a.id], names.platformDatabase)).toEqual(
      [],
    );
  });
});
