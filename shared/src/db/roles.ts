import type pg from 'pg';
import { platformNames } from './names.js';
import { scramVerifier } from './scram.js';

/**
 * The roles of an installation, made with the admin connection (the
 * provisioner's and the migrator's only). Every statement is idempotent, so
 * a step that crashed half-way simply runs again.
 */

type Admin = Pick<pg.ClientBase, 'query'>;

export interface RoleOptions {
  /** A group (NOLOGIN) holds grants; only login roles connect. */
  login: boolean;
  /** Unset leaves the password as it is (trust or peer authentication, or one set by hand). */
  password?: string | undefined;
  /** INHERIT: the role uses its groups' grants without SET ROLE (tenant login roles, through tenant_service). */
  inherit?: boolean;
  memberOf?: string;
}

/**
 * Creates a role if missing, with no attribute that could lift it above its
 * grants, and brings LOGIN, INHERIT and the password to what is asked.
 * Names and the password's SCRAM verifier travel as bind parameters into
 * settings the DO block reads: the password itself never reaches PostgreSQL,
 * so no statement log can hold it.
 */
export async function ensureRole(admin: Admin, role: string, options: RoleOptions): Promise<void> {
  await admin.query(
    `SELECT set_config('deeplens.role', $1, false), set_config('deeplens.role_verifier', $2, false),
            set_config('deeplens.role_options', $3, false), set_config('deeplens.role_group', $4, false)`,
    [
      role,
      options.password === undefined ? '' : scramVerifier(options.password),
      `${options.login ? 'LOGIN' : 'NOLOGIN'} ${options.inherit ? 'INHERIT' : 'NOINHERIT'}`,
      options.memberOf ?? '',
    ],
  );
  await admin.query(`DO $$
    DECLARE
      role_name text := current_setting('deeplens.role');
      verifier text := nullif(current_setting('deeplens.role_verifier'), '');
      role_options text := current_setting('deeplens.role_options');
      role_group text := nullif(current_setting('deeplens.role_group'), '');
    BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = role_name) THEN
        BEGIN
          EXECUTE format('CREATE ROLE %I NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS %s', role_name, role_options);
        EXCEPTION WHEN duplicate_object THEN NULL; -- made meanwhile by a concurrent step
        END;
      END IF;
      EXECUTE format('ALTER ROLE %I %s', role_name, role_options);
      IF verifier IS NOT NULL THEN
        EXECUTE format('ALTER ROLE %I PASSWORD %L', role_name, verifier);
      END IF;
      IF role_group IS NOT NULL THEN
        EXECUTE format('GRANT %I TO %I', role_group, role_name);
      END IF;
    END $$`);
  await admin.query(`SELECT set_config('deeplens.role_verifier', '', false)`);
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** CONNECT is granted by name, never to PUBLIC: CREATE DATABASE … TEMPLATE gives a clone the default ACL (PUBLIC may connect). */
export async function closeDatabaseToPublic(admin: Admin, database: string, prefix: string): Promise<void> {
  await admin.query(
    `REVOKE CONNECT ON DATABASE ${quote(database)} FROM PUBLIC, ${quote(platformNames(prefix).tenantRole)}`,
  );
}

export async function grantConnect(admin: Admin, database: string, role: string): Promise<void> {
  await admin.query(`GRANT CONNECT ON DATABASE ${quote(database)} TO ${quote(role)}`);
}

export async function revokeConnect(admin: Admin, database: string, role: string): Promise<void> {
  await admin.query(`REVOKE CONNECT ON DATABASE ${quote(database)} FROM ${quote(role)}`);
}

/**
 * Drops a tenant's login role once its databases are gone. A grant left on
 * a database nobody registered (a restore's leftover) would keep DROP ROLE
 * from succeeding: such grants are revoked first. Safe when the role is gone.
 */
export async function dropLoginRole(admin: Admin, role: string): Promise<void> {
  const { rows } = await admin.query<{ datname: string }>(
    `SELECT d.datname FROM pg_database d
      WHERE EXISTS (SELECT 1 FROM aclexplode(d.datacl) a JOIN pg_roles r ON r.oid = a.grantee WHERE r.rolname = $1)`,
    [role],
  );
  for (const { datname } of rows) await admin.query(`REVOKE ALL ON DATABASE ${quote(datname)} FROM ${quote(role)}`);
  await admin.query(`DROP ROLE IF EXISTS ${quote(role)}`);
}

/**
 * The installation's databases that PUBLIC or tenant_service may still
 * connect to (a NULL ACL is the default, which lets PUBLIC connect): those
 * made before per-tenant roles, and any clone made by hand.
 */
export async function databasesOpenToPublic(admin: Admin, prefix: string): Promise<string[]> {
  const names = platformNames(prefix);
  const { rows } = await admin.query<{ datname: string }>(
    `SELECT d.datname FROM pg_database d
      WHERE (starts_with(d.datname, $1) OR starts_with(d.datname, $2) OR d.datname = ANY($3::text[]))
        AND (d.datacl IS NULL OR EXISTS (
              SELECT 1 FROM aclexplode(d.datacl) a
               WHERE a.privilege_type = 'CONNECT'
                 AND (a.grantee = 0 OR a.grantee = (SELECT oid FROM pg_roles WHERE rolname = $4))))`,
    [
      names.tenantDatabasePrefix,
      names.spareDatabasePrefix,
      [names.platformDatabase, names.identityDatabase],
      names.tenantRole,
    ],
  );
  return rows.map((row) => row.datname);
}
