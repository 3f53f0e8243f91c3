import { setTimeout as sleep } from 'node:timers/promises';
import {
  AppError,
  platformNames,
  withClient,
  withDatabase,
  withTemplateLock,
  type BaseEnv,
} from '@deeplens/shared';
import pg from 'pg';

type DbEnv = Pick<BaseEnv, 'DATABASE_URL' | 'DEEPLENS_DB_PREFIX'>;

const quote = (name: string) => pg.escapeIdentifier(name);
const pgCode = (error: unknown) => (error as { code?: string }).code;

/** "source database is being accessed by other users": someone is connected to the template. */
const TEMPLATE_BUSY = '55006';
const DUPLICATE_DATABASE = '42P04';

export async function databaseExists(admin: pg.Client, database: string): Promise<boolean> {
  const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
  return Boolean(rowCount);
}

/**
 * CREATE DATABASE … TEMPLATE, outside any transaction. Our own template
 * migrations are kept out by the shared template lock; anyone else connected
 * to the template makes PostgreSQL refuse with 55006, which is retried with
 * jittered backoff. A clone that already exists is complete: PostgreSQL only
 * makes a database visible once its copy has committed.
 */
export async function cloneTenantDatabase(env: DbEnv, database: string): Promise<'created' | 'existed'> {
  const names = platformNames(env.DEEPLENS_DB_PREFIX);
  return withClient(env.DATABASE_URL, async (admin) => {
    if (await databaseExists(admin, database)) return 'existed';
    const outcome = await withTemplateLock(admin, env.DEEPLENS_DB_PREFIX, 'shared', async () => {
      for (let attempt = 1; ; attempt += 1) {
        try {
          await admin.query(`CREATE DATABASE ${quote(database)} TEMPLATE ${quote(names.templateDatabase)}`);
          return 'created' as const;
        } catch (error) {
          if (pgCode(error) === DUPLICATE_DATABASE) return 'existed' as const;
          if (pgCode(error) !== TEMPLATE_BUSY || attempt >= 12) {
            throw new AppError('database_error', `could not create database ${database}: ${(error as Error).message}`, {
              retryable: true,
            });
          }
          const backoff = Math.min(50 * 2 ** attempt, 3_000);
          await sleep(backoff / 2 + Math.random() * backoff);
        }
      }
    });
    await admin.query(`REVOKE CONNECT ON DATABASE ${quote(database)} FROM PUBLIC`);
    await admin.query(`GRANT CONNECT ON DATABASE ${quote(database)} TO ${quote(names.tenantRole)}`);
    return outcome;
  });
}

/**
 * Refuses a tenant database in which tenant_service could read past RLS:
 * every table must have RLS enabled and forced, none may belong to
 * tenant_service, and the role itself must not bypass RLS.
 */
export async function assertRowLevelSecurity(env: DbEnv, database: string): Promise<void> {
  const names = platformNames(env.DEEPLENS_DB_PREFIX);
  await withClient(withDatabase(env.DATABASE_URL, database), async (client) => {
    const { rows } = await client.query<{ table: string; problem: string }>(
      `SELECT n.nspname || '.' || c.relname AS table,
              CASE WHEN NOT c.relrowsecurity THEN 'row level security is not enabled'
                   WHEN NOT c.relforcerowsecurity THEN 'row level security is not forced'
                   ELSE 'owned by the tenant role' END AS problem
         FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p')
          AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND c.relname <> 'deeplens_schema_migrations'
          AND (NOT c.relrowsecurity OR NOT c.relforcerowsecurity OR pg_get_userbyid(c.relowner) = $1)`,
      [names.tenantRole],
    );
    const role = await client.query<{ bypass: boolean; superuser: boolean }>(
      'SELECT rolbypassrls AS bypass, rolsuper AS superuser FROM pg_roles WHERE rolname = $1',
      [names.tenantRole],
    );
    const problems = rows.map((row) => `${row.table}: ${row.problem}`);
    if (role.rows[0]?.bypass || role.rows[0]?.superuser) problems.push(`${names.tenantRole} can bypass row level security`);
    if (problems.length) {
      throw new AppError('rls_not_enforced', `tenant database ${database} is not isolated: ${problems.join('; ')}`);
    }
  });
}

/** Drops a tenant database, disconnecting anyone still connected. Safe when it is already gone. */
export async function dropTenantDatabase(env: DbEnv, database: string): Promise<void> {
  await withClient(env.DATABASE_URL, async (admin) => {
    await admin.query(`DROP DATABASE IF EXISTS ${quote(database)} WITH (FORCE)`);
  });
}
