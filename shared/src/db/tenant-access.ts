import type pg from 'pg';
import type { CommonQueryMethods } from 'slonik';
import { z } from 'zod';
import { keyringFromEnv, type BaseEnv } from '../config/env.js';
import type { Keyring } from '../crypto/keyring.js';
import type { Logger } from '../logger.js';
import { tenantRolesRepository, type TenantRoleCredentials } from '../repositories/tenant-roles.repository.js';
import { withDatabase } from './connection-uri.js';
import { platformNames } from './names.js';
import { openPool } from './pool.js';
import { closeDatabaseToPublic, databasesOpenToPublic, ensureRole, grantConnect } from './roles.js';
import { sql } from './sql.js';

type Admin = Pick<pg.ClientBase, 'query'>;

/**
 * Gives a tenant its login role (made once, its password sealed in the
 * platform database) and lets that role, and no other but the admin,
 * connect to `database`. Provisioning (clone or claimed spare), the fleet
 * pass and restores all go through here; every step is idempotent.
 */
export async function grantTenantAccess(
  admin: Admin,
  platform: CommonQueryMethods,
  keyring: Keyring,
  { prefix, tenantId, database }: { prefix: string; tenantId: string; database: string },
): Promise<TenantRoleCredentials> {
  const credentials = await tenantRolesRepository(platform, keyring).obtain(prefix, tenantId);
  await ensureRole(admin, credentials.role, {
    login: true,
    inherit: true,
    password: credentials.password,
    memberOf: platformNames(prefix).tenantRole,
  });
  await closeDatabaseToPublic(admin, database, prefix);
  await grantConnect(admin, database, credentials.role);
  return credentials;
}

type FleetEnv = Pick<BaseEnv, 'DATABASE_URL' | 'DEEPLENS_DB_PREFIX'> &
  Partial<Pick<BaseEnv, 'DEEPLENS_ENCRYPTION_KEY' | 'NODE_ENV'>>;

/**
 * Brings an installation made before per-tenant roles to the model: no
 * database of it open to PUBLIC or to tenant_service, and every live tenant
 * database with its tenant's login role. Only tenants lacking a role need the
 * keyring; without one (or on an error) they are reported, not fatal, and the
 * next run tries again.
 */
export async function secureTenantFleet(
  env: FleetEnv,
  admin: Admin,
  log: Logger,
): Promise<{ closed: number; granted: number; failed: string[] }> {
  const prefix = env.DEEPLENS_DB_PREFIX;
  const names = platformNames(prefix);
  const open = await databasesOpenToPublic(admin, prefix);
  for (const database of open) await closeDatabaseToPublic(admin, database, prefix);

  const platformUri = withDatabase(env.DATABASE_URL, names.platformDatabase);
  const platform = await openPool(platformUri, { maximumPoolSize: 1 });
  try {
    // Live registrations whose tenant has no role yet, or whose role may not connect to the database.
    const rows = await platform.any(sql.type(z.object({ tenant_id: z.string(), database_name: z.string() }))`
      SELECT d.tenant_id, d.database_name
        FROM tenant_databases d JOIN pg_database db ON db.datname = d.database_name
       WHERE d.dropped_at IS NULL
         AND NOT EXISTS (SELECT 1 FROM tenant_db_roles r JOIN pg_roles p ON p.rolname = r.role_name
                          WHERE r.tenant_id = d.tenant_id AND has_database_privilege(p.oid, db.oid, 'CONNECT'))
       ORDER BY d.created_at`);
    if (rows.length === 0) return { closed: open.length, granted: 0, failed: [] };
    let keyring: Keyring;
    try {
      keyring = keyringFromEnv({
        DEEPLENS_ENCRYPTION_KEY: env.DEEPLENS_ENCRYPTION_KEY,
        NODE_ENV: env.NODE_ENV ?? 'production',
      });
    } catch {
      // Their databases are closed to everyone but the admin meanwhile: nothing is open, the aggregator skips them.
      log.warn(
        { tenants: rows.length },
        'tenants without a login role; run the migration with DEEPLENS_ENCRYPTION_KEY to give them one',
      );
      return { closed: open.length, granted: 0, failed: rows.map((row) => row.database_name) };
    }
    let granted = 0;
    const failed: string[] = [];
    for (const row of rows) {
      try {
        await grantTenantAccess(admin, platform, keyring, {
          prefix,
          tenantId: row.tenant_id,
          database: row.database_name,
        });
        granted += 1;
      } catch (error) {
        // A database dropped by a deprovisioning since it was listed is not a failure; others are retried by the next run.
        if ((error as { code?: string }).code === '3D000') continue;
        log.error(
          { database: row.database_name, err: (error as Error).message },
          'could not give a tenant its login role',
        );
        failed.push(row.database_name);
      }
    }
    log.info({ closed: open.length, granted }, 'tenant databases brought to per-tenant login roles');
    return { closed: open.length, granted, failed };
  } finally {
    await platform.end();
  }
}
