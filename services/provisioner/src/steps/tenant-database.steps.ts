import { setTimeout as sleep } from 'node:timers/promises';
import {
  AppError,
  closeDatabaseToPublic,
  dropLoginRole,
  grantTenantAccess,
  migrateTenantClient,
  platformNames,
  rowLevelSecurityProblems,
  withClient,
  withDatabase,
  withTemplateLock,
  type BaseEnv,
  type DatabasePool,
  type Keyring,
  type Migration,
  type TenantRoleCredentials,
} from '@deeplens/shared';
import pg from 'pg';

type DbEnv = Pick<BaseEnv, 'DATABASE_URL' | 'DEEPLENS_DB_PREFIX'>;

const quote = (name: string) => pg.escapeIdentifier(name);
const pgCode = (error: unknown) => (error as { code?: string }).code;

/** "source database is being accessed by other users": someone is connected to the template. */
const TEMPLATE_BUSY = '55006';
const DUPLICATE_DATABASE = '42P04';

const adminPools = new Map<string, pg.Pool>();

/**
 * A session on the server's maintenance database, kept open between jobs:
 * opening a connection cost about a quarter of a clone's own time in the
 * provisioning benchmark. A session whose work failed is closed rather than
 * reused, so nothing it held (a template lock) can outlive the job.
 */
async function withAdminSession<T>(env: DbEnv, work: (admin: pg.ClientBase) => Promise<T>): Promise<T> {
  let pool = adminPools.get(env.DATABASE_URL);
  if (!pool) {
    pool = new pg.Pool({
      connectionString: env.DATABASE_URL,
      application_name: 'deeplens-provisioner',
      max: 4,
      idleTimeoutMillis: 10_000,
      allowExitOnIdle: true,
    });
    pool.on('error', () => undefined); // an idle session dropped by the server is simply replaced
    adminPools.set(env.DATABASE_URL, pool);
  }
  const client = await pool.connect();
  try {
    const result = await work(client);
    client.release();
    return result;
  } catch (error) {
    client.release(true);
    throw error;
  }
}

/** Closes the kept sessions (at shutdown). */
export async function closeAdminSessions(): Promise<void> {
  const pools = [...adminPools.values()];
  adminPools.clear();
  await Promise.all(pools.map((pool) => pool.end()));
}

export async function databaseExists(admin: pg.ClientBase, database: string): Promise<boolean> {
  const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
  return Boolean(rowCount);
}

export async function databaseExistsOnServer(env: DbEnv, database: string): Promise<boolean> {
  return withAdminSession(env, (admin) => databaseExists(admin, database));
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
  return withAdminSession(env, async (admin) => {
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
    // Nobody but the admin until the tenant's own role is granted CONNECT (grantTenantDatabaseAccess).
    await closeDatabaseToPublic(admin, database, env.DEEPLENS_DB_PREFIX);
    return outcome;
  });
}

/**
 * The tenant's login role (made once, its password sealed in the platform
 * database), the only role besides the admin that may connect to `database`.
 */
export async function grantTenantDatabaseAccess(
  env: DbEnv,
  platformPool: DatabasePool,
  keyring: Keyring,
  tenantId: string,
  database: string,
): Promise<TenantRoleCredentials> {
  return withAdminSession(env, (admin) =>
    grantTenantAccess(admin, platformPool, keyring, { prefix: env.DEEPLENS_DB_PREFIX, tenantId, database }),
  );
}

/** Drops a tenant's login role, after its databases. Safe when it is already gone. */
export async function dropTenantLoginRole(env: DbEnv, role: string): Promise<void> {
  await withAdminSession(env, (admin) => dropLoginRole(admin, role));
}

/**
 * Brings a fresh clone to the template's latest version and proves that
 * `role` (the tenant's login role; tenant_service for a spare, whose tenant
 * is not known yet) cannot read past RLS in it, over one connection (a new
 * connection costs about as much as either step). Returns the migrations
 * applied (none when the template was current).
 */
export async function secureTenantDatabase(
  env: DbEnv,
  database: string,
  migrations: Migration[],
  role?: string,
): Promise<string[]> {
  return withClient(withDatabase(env.DATABASE_URL, database), async (client) => {
    const applied = await migrateTenantClient(client, env.DEEPLENS_DB_PREFIX, migrations);
    await checkRowLevelSecurity(client, role ?? platformNames(env.DEEPLENS_DB_PREFIX).tenantRole, database);
    return applied;
  });
}

/**
 * Refuses a tenant database in which `role` (by default the tenant_service
 * group every tenant role belongs to) could read past RLS: every table must
 * have RLS enabled and forced, none may belong to the role or its groups,
 * and none of them may bypass RLS.
 */
export async function assertRowLevelSecurity(env: DbEnv, database: string, role?: string): Promise<void> {
  const names = platformNames(env.DEEPLENS_DB_PREFIX);
  await withClient(withDatabase(env.DATABASE_URL, database), (client) =>
    checkRowLevelSecurity(client, role ?? names.tenantRole, database),
  );
}

async function checkRowLevelSecurity(client: pg.Client, role: string, database: string): Promise<void> {
  const problems = await rowLevelSecurityProblems(client, role);
  if (problems.length) {
    throw new AppError('rls_not_enforced', `tenant database ${database} is not isolated: ${problems.join('; ')}`);
  }
}

/** Drops a tenant database, disconnecting anyone still connected. Safe when it is already gone. */
export async function dropTenantDatabase(env: DbEnv, database: string): Promise<void> {
  await withAdminSession(env, async (admin) => {
    await admin.query(`DROP DATABASE IF EXISTS ${quote(database)} WITH (FORCE)`);
  });
}

const UNDEFINED_DATABASE = '3D000';

/**
 * Renames a database nobody is connected to (a spare: the platform never
 * keeps a connection to one). 'missing' when it does not exist.
 */
export async function renameUnusedDatabase(env: DbEnv, from: string, to: string): Promise<'renamed' | 'missing'> {
  return withAdminSession(env, async (admin) => {
    try {
      await admin.query(`ALTER DATABASE ${quote(from)} RENAME TO ${quote(to)}`);
      return 'renamed';
    } catch (error) {
      if (pgCode(error) === UNDEFINED_DATABASE) return 'missing';
      throw new AppError('database_error', `could not rename database ${from} to ${to}: ${(error as Error).message}`, {
        retryable: true,
      });
    }
  });
}

/** The databases whose names start with `prefix`. */
export async function listDatabases(env: DbEnv, prefix: string): Promise<string[]> {
  return withAdminSession(env, async (admin) => {
    const { rows } = await admin.query<{ datname: string }>(
      'SELECT datname FROM pg_database WHERE starts_with(datname, $1)',
      [prefix],
    );
    return rows.map((row) => row.datname);
  });
}
