import { randomBytes } from 'node:crypto';
import type { CommonQueryMethods } from 'slonik';
import { z } from 'zod';
import type { Keyring } from '../crypto/keyring.js';
import { seal, unseal } from '../crypto/sealed.js';
import { tenantLoginRoleName } from '../db/names.js';
import { sql } from '../db/sql.js';
import { AppError } from '../errors.js';

/**
 * tenant_db_roles (infra/migrations/platform/0010): each tenant's login role
 * and its password, sealed in the application for that tenant and purpose,
 * so a row copied onto another tenant does not open and the database never
 * holds the password.
 */

export interface TenantRoleCredentials {
  role: string;
  password: string;
}

const PURPOSE = 'tenant-db-role';
const roleRow = z.object({ tenant_id: z.string(), role_name: z.string(), password_sealed: z.string() });

const open = (keyring: Keyring, row: z.infer<typeof roleRow>): TenantRoleCredentials => ({
  role: row.role_name,
  password: unseal(keyring, row.password_sealed, [row.tenant_id, PURPOSE]),
});

export function tenantRolesRepository(db: CommonQueryMethods, keyring: Keyring) {
  return {
    /** The tenant's role and password: chosen and stored the first time, the same ones on every later call (a retried step). */
    async obtain(prefix: string, tenantId: string): Promise<TenantRoleCredentials> {
      const password = randomBytes(32).toString('base64url');
      await db.query(sql.typeAlias('void')`
        INSERT INTO tenant_db_roles (tenant_id, role_name, password_sealed)
        VALUES (${tenantId}, ${tenantLoginRoleName(prefix, tenantId)}, ${seal(keyring, password, [tenantId, PURPOSE])})
        ON CONFLICT (tenant_id) DO NOTHING`);
      return open(
        keyring,
        await db.one(sql.type(roleRow)`
        SELECT tenant_id, role_name, password_sealed FROM tenant_db_roles WHERE tenant_id = ${tenantId}`),
      );
    },

    /** The login of the tenant whose live database this is: the only credentials the platform reads that database with. */
    async forDatabase(database: string): Promise<TenantRoleCredentials> {
      const row = await db.maybeOne(sql.type(roleRow)`
        SELECT r.tenant_id, r.role_name, r.password_sealed
          FROM tenant_databases d JOIN tenant_db_roles r ON r.tenant_id = d.tenant_id
         WHERE d.database_name = ${database} AND d.dropped_at IS NULL`);
      if (!row) throw new AppError('not_found', `no tenant login role is registered for database ${database}`);
      return open(keyring, row);
    },

    async existing(tenantId: string): Promise<TenantRoleCredentials> {
      const row = await db.maybeOne(sql.type(roleRow)`
        SELECT tenant_id, role_name, password_sealed FROM tenant_db_roles WHERE tenant_id = ${tenantId}`);
      if (!row) throw new AppError('not_found', `tenant ${tenantId} has no login role`);
      return open(keyring, row);
    },

    async forget(tenantId: string): Promise<void> {
      await db.query(sql.typeAlias('void')`DELETE FROM tenant_db_roles WHERE tenant_id = ${tenantId}`);
    },
  };
}
