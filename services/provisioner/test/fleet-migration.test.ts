import { randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createLogger,
  migratePlatform,
  migrationsRoot,
  platformNames,
  tenantDatabaseName,
  tenantLoginRoleName,
  withClient,
  withDatabase,
} from '@deeplens/shared';
import { TEST_ENCRYPTION_KEY } from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cloneTenantDatabase } from '../src/steps/tenant-database.steps.js';

/**
 * A template change reaches every existing tenant (the fleet migration),
 * records its progress per tenant, resumes after a failure, and new tenants
 * get it from the template. It runs under its own installation prefix, so
 * changing the template does not touch the other test files' tenants.
 */
const env = {
  DATABASE_URL: process.env.DATABASE_URL!,
  // Under this run's prefix, so the run's teardown drops it too.
  DEEPLENS_DB_PREFIX: `${process.env.DEEPLENS_DB_PREFIX}fleet_`,
  DEEPLENS_PLATFORM_SERVICE_PASSWORD: undefined,
  DEEPLENS_TENANT_SERVICE_PASSWORD: undefined,
  // Seals the login roles the fleet pass makes for tenants registered before them.
  DEEPLENS_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
  NODE_ENV: 'test' as const,
};
const names = platformNames(env.DEEPLENS_DB_PREFIX);
const log = createLogger({ name: 'fleet-test', level: 'silent' });
const migrationsDir = mkdtempSync(join(tmpdir(), 'deeplens-migrations-'));
const tenants = ['one', 'two'].map((name) => ({
  id: randomUUID(),
  name,
  database: tenantDatabaseName(env.DEEPLENS_DB_PREFIX, name),
}));

const query = <T>(database: string, text: string, values: unknown[] = []) =>
  withClient(
    withDatabase(env.DATABASE_URL, database),
    async (client) => (await client.query(text, values)).rows as T[],
  );
const hasColumn = async (database: string) =>
  (
    await query<{ n: number }>(
      database,
      "SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'images' AND column_name = 'perceptual_hash'",
    )
  )[0]!.n === 1;

beforeAll(async () => {
  cpSync(migrationsRoot(), migrationsDir, { recursive: true });
  process.env.DEEPLENS_MIGRATIONS_DIR = migrationsDir;
  await migratePlatform(env, log);
  for (const tenant of tenants) {
    await cloneTenantDatabase(env, tenant.database);
    await query(
      names.platformDatabase,
      "INSERT INTO tenants (id, name, plan, status) VALUES ($1, $2, 'free', 'active')",
      [tenant.id, `fleet-${tenant.name}`],
    );
    await query(
      names.platformDatabase,
      "INSERT INTO tenant_databases (tenant_id, db_type, database_name, template_version) VALUES ($1, 'metadata', $2, '0001')",
      [tenant.id, tenant.database],
    );
  }
});

afterAll(() => {
  delete process.env.DEEPLENS_MIGRATIONS_DIR;
  rmSync(migrationsDir, { recursive: true, force: true });
});

describe('fleet migration of tenant databases', () => {
  it('gives tenants registered before per-tenant roles a login role, and closes their databases to PUBLIC and tenant_service', async () => {
    // As the old model left them: tenant_service (then a login) and, for a hand-made clone, PUBLIC could connect.
    await withClient(env.DATABASE_URL, async (admin) => {
      await admin.query(`ALTER ROLE "${names.tenantRole}" LOGIN`);
      for (const tenant of tenants)
        await admin.query(`GRANT CONNECT ON DATABASE "${tenant.database}" TO PUBLIC, "${names.tenantRole}"`);
    });
    await migratePlatform(env, log);
    for (const tenant of tenants) {
      const [row] = await query<{ grantees: string[]; login: boolean }>(
        'postgres',
        `SELECT array(SELECT coalesce(r.rolname::text, 'PUBLIC') FROM aclexplode(d.datacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee
                       WHERE a.privilege_type = 'CONNECT' ORDER BY 1) AS grantees,
                (SELECT rolcanlogin FROM pg_roles WHERE rolname = $2) AS login
           FROM pg_database d WHERE d.datname = $1`,
        [tenant.database, names.tenantRole],
      );
      // The admin (the owner) and the tenant's own role, no one else; tenant_service is a group again.
      expect(row!.grantees.filter((grantee) => grantee !== 'postgres')).toEqual([
        tenantLoginRoleName(env.DEEPLENS_DB_PREFIX, tenant.id),
      ]);
      expect(row!.login).toBe(false);
    }
    const roles = await query<{ tenant_id: string }>(
      names.platformDatabase,
      'SELECT tenant_id FROM tenant_db_roles ORDER BY tenant_id',
    );
    expect(roles.map((row) => row.tenant_id)).toEqual(tenants.map((tenant) => tenant.id).sort());
  });

  it('applies a new template migration to every tenant, resuming past one that failed', async () => {
    writeFileSync(
      join(migrationsDir, 'template/0002_image_perceptual_hash.sql'),
      'ALTER TABLE images ADD COLUMN perceptual_hash text;\n',
    );
    // Tenant two already has a conflicting column: its migration fails, tenant one's must not.
    await query(tenants[1]!.database, 'ALTER TABLE images ADD COLUMN perceptual_hash integer');

    const first = await migratePlatform(env, log);
    expect(first.applied.template).toEqual(['0002_image_perceptual_hash']);
    expect(first.fleet.migrated).toBe(1);
    expect(first.fleet.failed).toEqual([
      { database: tenants[1]!.database, error: expect.stringMatching(/already exists/) },
    ]);
    expect(await hasColumn(tenants[0]!.database)).toBe(true);

    const versions = async () =>
      Object.fromEntries(
        (
          await query<{ database_name: string; template_version: string }>(
            names.platformDatabase,
            'SELECT database_name, template_version FROM tenant_databases',
          )
        ).map((row) => [row.database_name, row.template_version]),
      );
    expect(await versions()).toEqual({ [tenants[0]!.database]: '0002', [tenants[1]!.database]: '0001' });

    // The operator fixes tenant two; running again resumes with it alone.
    await query(tenants[1]!.database, 'ALTER TABLE images DROP COLUMN perceptual_hash');
    const second = await migratePlatform(env, log);
    expect(second.applied.template).toEqual([]);
    expect(second.fleet).toEqual({ migrated: 1, failed: [] });
    expect(await hasColumn(tenants[1]!.database)).toBe(true);
    expect(await versions()).toEqual({ [tenants[0]!.database]: '0002', [tenants[1]!.database]: '0002' });

    // Each tenant database records what it has, and a third run has nothing to do.
    const ledger = await query<{ version: string }>(
      tenants[0]!.database,
      'SELECT version FROM deeplens_schema_migrations ORDER BY version',
    );
    expect(ledger.map((row) => row.version)).toEqual(['0001', '0002']);
    expect((await migratePlatform(env, log)).fleet).toEqual({ migrated: 0, failed: [] });
  });

  it('gives new tenants the change through the template', async () => {
    const fresh = tenantDatabaseName(env.DEEPLENS_DB_PREFIX, 'three');
    await cloneTenantDatabase(env, fresh);
    expect(await hasColumn(fresh)).toBe(true);
  });

  it('refuses an applied migration whose file was changed afterwards', async () => {
    writeFileSync(
      join(migrationsDir, 'template/0002_image_perceptual_hash.sql'),
      'ALTER TABLE images ADD COLUMN perceptual_hash bytea;\n',
    );
    await expect(migratePlatform(env, log)).rejects.toThrow(/was changed after it was applied/);
  });
});
