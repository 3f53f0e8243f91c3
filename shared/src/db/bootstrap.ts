import pg from 'pg';
import type { BaseEnv } from '../config/env.js';
import type { Logger } from '../logger.js';
import { withDatabase } from './connection-uri.js';
import { applyMigrations, loadMigrations, withClient, type Migration } from './migrations.js';
import { platformNames, type PlatformNames } from './names.js';
import { closeDatabaseToPublic, ensureRole, grantConnect } from './roles.js';
import { secureTenantFleet } from './tenant-access.js';
import { withTemplateLock } from './template-lock.js';

type BootstrapEnv = Pick<
  BaseEnv,
  'DATABASE_URL' | 'DEEPLENS_DB_PREFIX' | 'DEEPLENS_PLATFORM_SERVICE_PASSWORD' | 'DEEPLENS_TENANT_SERVICE_PASSWORD'
> &
  // The keyring seals the login roles the fleet pass makes for tenants that lack one.
  Partial<Pick<BaseEnv, 'DEEPLENS_IDENTITY_SERVICE_PASSWORD' | 'DEEPLENS_ENCRYPTION_KEY' | 'NODE_ENV'>>;

function migrationSettings(names: PlatformNames, prefix: string): Record<string, string> {
  return {
    'deeplens.platform_role': names.platformRole,
    'deeplens.tenant_role': names.tenantRole,
    'deeplens.identity_role': names.identityRole,
    'deeplens.prefix': prefix,
  };
}

const quote = (name: string) => pg.escapeIdentifier(name);

async function ensureDatabase(client: pg.Client, database: string): Promise<boolean> {
  const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
  if (rowCount) return false;
  try {
    await client.query(`CREATE DATABASE ${quote(database)}`);
  } catch (error) {
    // Another migrator created it between our check and our CREATE.
    if ((error as { code?: string }).code !== '42P04') throw error;
  }
  return true;
}

export interface MigrateResult {
  applied: Record<string, string[]>;
  fleet: { migrated: number; failed: Array<{ database: string; error: string }> };
}

/** Everything `npm start` and `npm run migrate` do before the services start. */
export async function migratePlatform(env: BootstrapEnv, log: Logger): Promise<MigrateResult> {
  const prefix = env.DEEPLENS_DB_PREFIX;
  const names = platformNames(prefix);
  const settings = migrationSettings(names, prefix);
  const applied: Record<string, string[]> = {};

  const result = await withClient(env.DATABASE_URL, async (admin) => {
    // One migrator at a time per installation.
    await admin.query('SELECT pg_advisory_lock(hashtext($1))', [`${prefix}deeplens.migrate`]);
    await ensureRole(admin, names.platformRole, { login: true, password: env.DEEPLENS_PLATFORM_SERVICE_PASSWORD });
    await ensureRole(admin, names.identityRole, { login: true, password: env.DEEPLENS_IDENTITY_SERVICE_PASSWORD });
    // A group only: each tenant database is opened with its tenant's own login role, a member of it.
    await ensureRole(admin, names.tenantRole, { login: false });
    for (const database of [names.platformDatabase, names.identityDatabase, names.templateDatabase]) {
      if (await ensureDatabase(admin, database)) log.info({ database }, 'created database');
      await closeDatabaseToPublic(admin, database, prefix);
    }
    await grantConnect(admin, names.platformDatabase, names.platformRole);
    await grantConnect(admin, names.identityDatabase, names.identityRole);

    for (const target of ['platform', 'identity'] as const) {
      const database = target === 'platform' ? names.platformDatabase : names.identityDatabase;
      applied[target] = await withClient(withDatabase(env.DATABASE_URL, database), (client) =>
        applyMigrations(client, loadMigrations(target), settings),
      );
    }

    const templateMigrations = loadMigrations('template');
    applied.template = await withTemplateLock(admin, prefix, 'exclusive', async () => {
      const done = await withClient(withDatabase(env.DATABASE_URL, names.templateDatabase), (client) =>
        applyMigrations(client, templateMigrations, settings),
      );
      await admin.query(`ALTER DATABASE ${quote(names.templateDatabase)} WITH IS_TEMPLATE true`);
      return done;
    });

    const fleet = await migrateTenantFleet(env, templateMigrations, log);
    await secureTenantFleet(env, admin, log);
    return { applied, fleet };
  });
  for (const [target, versions] of Object.entries(result.applied)) {
    if (versions.length) log.info({ target, versions }, 'applied migrations');
  }
  return result;
}

/**
 * Brings one tenant database to the template's schema. Provisioning calls it
 * right after the clone, and the fleet pass for every registered database,
 * so a template change reaches tenants whichever ran first.
 */
export async function migrateTenantDatabase(
  env: Pick<BaseEnv, 'DATABASE_URL' | 'DEEPLENS_DB_PREFIX'>,
  database: string,
  migrations: Migration[] = loadMigrations('template'),
): Promise<string[]> {
  return withClient(withDatabase(env.DATABASE_URL, database), (client) =>
    migrateTenantClient(client, env.DEEPLENS_DB_PREFIX, migrations),
  );
}

/** The same over a connection the caller already holds to the tenant database (the provisioner proves isolation on it next). */
export function migrateTenantClient(client: pg.Client, prefix: string, migrations: Migration[]): Promise<string[]> {
  return applyMigrations(client, migrations, migrationSettings(platformNames(prefix), prefix));
}

/**
 * The fleet migration: every live tenant database gets the template's pending
 * migrations. Each database records its own progress, so a crash mid-fleet
 * resumes where it stopped; one tenant's failure is reported, not fatal.
 */
async function migrateTenantFleet(
  env: BootstrapEnv,
  migrations: Migration[],
  log: Logger,
  concurrency = 4,
): Promise<MigrateResult['fleet']> {
  const names = platformNames(env.DEEPLENS_DB_PREFIX);
  const latest = migrations.at(-1)?.version ?? '0000';
  const platformUri = withDatabase(env.DATABASE_URL, names.platformDatabase);
  // One connection to the platform database for the whole pass: the listing and every progress record.
  return withClient(platformUri, async (platform) => {
    const { rows } = await platform.query<{ database_name: string }>(
      `SELECT database_name FROM tenant_databases
        WHERE dropped_at IS NULL AND template_version IS DISTINCT FROM $1
        ORDER BY created_at`,
      [latest],
    );
    const failed: MigrateResult['fleet']['failed'] = [];
    let migrated = 0;
    const queue = rows.map((row) => row.database_name);
    const workers = Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
      for (let database = queue.shift(); database; database = queue.shift()) {
        try {
          const done = await migrateTenantDatabase(env, database, migrations);
          await platform.query(
            'UPDATE tenant_databases SET template_version = $1 WHERE database_name = $2 AND dropped_at IS NULL',
            [latest, database],
          );
          if (done.length) log.info({ database, versions: done }, 'fleet migration applied');
          migrated += 1;
        } catch (error) {
          // A database dropped by a deprovision since we listed it is not a failure.
          if ((error as { code?: string }).code === '3D000') continue;
          log.error({ database, err: (error as Error).message }, 'fleet migration failed for a tenant');
          failed.push({ database, error: (error as Error).message });
        }
      }
    });
    await Promise.all(workers);
    return { migrated, failed };
  });
}
