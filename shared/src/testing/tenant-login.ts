import { randomUUID } from 'node:crypto';
import { parseKeyring } from '../crypto/keyring.js';
import { withCredentials, withDatabase } from '../db/connection-uri.js';
import { withClient } from '../db/migrations.js';
import { platformNames } from '../db/names.js';
import { openPool } from '../db/pool.js';
import { sql } from '../db/sql.js';
import { grantTenantAccess } from '../db/tenant-access.js';
import { tenantRolesRepository } from '../repositories/tenant-roles.repository.js';
import { z } from 'zod';

const tenantDatabaseRow = z.object({ database_name: z.string() });

/**
 * A tenant's login, as the platform keeps it: the role and its real password,
 * unsealed from tenant_db_roles with the tests' key. Tests log in with it to
 * see exactly what that tenant's role may reach.
 */

interface LoginEnv {
  DATABASE_URL: string;
  DEEPLENS_DB_PREFIX: string;
  DEEPLENS_ENCRYPTION_KEY: string;
}

async function withPlatform<T>(
  env: LoginEnv,
  work: (pool: Awaited<ReturnType<typeof openPool>>) => Promise<T>,
): Promise<T> {
  const pool = await openPool(withDatabase(env.DATABASE_URL, platformNames(env.DEEPLENS_DB_PREFIX).platformDatabase), {
    maximumPoolSize: 1,
  });
  try {
    return await work(pool);
  } finally {
    await pool.end();
  }
}

/** The URI of `database` (by default the tenant's registered one) as the tenant's own role. */
export async function tenantLoginUri(env: LoginEnv, tenantId: string, database?: string): Promise<string> {
  return withPlatform(env, async (pool) => {
    const repository = tenantRolesRepository(pool, parseKeyring(env.DEEPLENS_ENCRYPTION_KEY));
    const { role, password } = await repository.existing(tenantId);
    const target =
      database ??
      (await pool.oneFirst(sql.type(tenantDatabaseRow)`
        SELECT database_name FROM tenant_databases WHERE tenant_id = ${tenantId} AND dropped_at IS NULL`));
    return withCredentials(withDatabase(env.DATABASE_URL, target), role, password);
  });
}

/**
 * For tests that clone a tenant database by hand: that tenant's login role
 * for `database`, made by the provisioner's own step, for a tenant row made
 * here unless `tenantId` names one. Returns the tenant id and the login URI.
 */
export async function makeTenantLogin(
  env: LoginEnv,
  database: string,
  { tenantId = randomUUID() }: { tenantId?: string } = {},
): Promise<{ tenantId: string; uri: string }> {
  const credentials = await withPlatform(env, async (pool) => {
    await pool.query(sql.typeAlias('void')`
      INSERT INTO tenants (id, name, plan, status) VALUES (${tenantId}, ${`login-${tenantId.slice(0, 8)}`}, 'free', 'active')
      ON CONFLICT (id) DO NOTHING`);
    return withClient(env.DATABASE_URL, (admin) =>
      grantTenantAccess(admin, pool, parseKeyring(env.DEEPLENS_ENCRYPTION_KEY), {
        prefix: env.DEEPLENS_DB_PREFIX,
        tenantId,
        database,
      }),
    );
  });
  return {
    tenantId,
    uri: withCredentials(withDatabase(env.DATABASE_URL, database), credentials.role, credentials.password),
  };
}
