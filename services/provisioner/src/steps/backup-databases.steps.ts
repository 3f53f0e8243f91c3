import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AppError,
  closeDatabaseToPublic,
  grantConnect,
  MAX_IDENTIFIER_LENGTH,
  revokeConnect,
  spawnPgRestore,
  withClient,
  withDatabase,
  type BaseEnv,
} from '@deeplens/shared';
import pg from 'pg';
import { databaseExists } from './tenant-database.steps.js';

/**
 * The database side of a restore: a new, empty database per restore, and the
 * swap that gives it the registered name. Every step reads the catalog
 * (pg_database) first, so running it again after a crash at any point
 * finishes the work instead of repeating it.
 */

type DbEnv = Pick<BaseEnv, 'DATABASE_URL' | 'DEEPLENS_DB_PREFIX'>;
const quote = (name: string) => pg.escapeIdentifier(name);

/** `<base><suffix>`, the base shortened (with a hash of it) when the whole would pass PostgreSQL's 63 bytes. */
function suffixed(base: string, suffix: string): string {
  const full = `${base}${suffix}`;
  if (full.length <= MAX_IDENTIFIER_LENGTH) return full;
  const hash = createHash('sha256').update(base).digest('hex').slice(0, 6);
  return `${base.slice(0, MAX_IDENTIFIER_LENGTH - suffix.length - 7)}_${hash}${suffix}`;
}

const shortId = (id: string) => id.replace(/-/g, '').slice(0, 8);

export const restoreDatabaseName = (registered: string, restoreId: string) =>
  suffixed(registered, `_restore_${shortId(restoreId)}`);
export const preRestoreDatabaseName = (registered: string, restoreId: string) =>
  suffixed(registered, `_pre_restore_${shortId(restoreId)}`);

/**
 * Restores a verified dump into `target`, made empty from template0, which
 * the tenant's login role `role` may read. A target
 * left by a crashed attempt is half-restored: it is dropped and made again
 * (its name belongs to this restore alone).
 */
export async function restoreIntoNewDatabase(
  env: DbEnv,
  target: string,
  dumpFile: string,
  role: string,
): Promise<void> {
  await withClient(env.DATABASE_URL, async (admin) => {
    await admin.query(`DROP DATABASE IF EXISTS ${quote(target)} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${quote(target)} TEMPLATE template0`);
    // As a tenant database is: the tenant's own role (and the admin) may connect, nobody else.
    await closeDatabaseToPublic(admin, target, env.DEEPLENS_DB_PREFIX);
    await grantConnect(admin, target, role);
  });
  try {
    await spawnPgRestore(withDatabase(env.DATABASE_URL, target), dumpFile).done;
  } catch (error) {
    const message = error instanceof AppError ? error.message : String(error);
    throw new AppError('restore_failed', `pg_restore into ${target} failed: ${message}`, {
      retryable: true,
      httpStatus: 500,
    });
  }
}

/** Closes a database to new sessions and ends the current ones, so it can be renamed. */
async function closeDatabase(admin: pg.Client, database: string): Promise<void> {
  await admin.query(`ALTER DATABASE ${quote(database)} WITH ALLOW_CONNECTIONS false`);
  await admin.query(
    'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
    [database],
  );
}

/** Ends the sessions on `from`, then ALTER DATABASE … RENAME, retried while a terminated session is still on its way out. */
async function closeAndRenameDatabase(admin: pg.Client, from: string, to: string): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await closeDatabase(admin, from);
      await admin.query(`ALTER DATABASE ${quote(from)} RENAME TO ${quote(to)}`);
      return;
    } catch (error) {
      // 55006: "database is being accessed by other users".
      if ((error as { code?: string }).code !== '55006' || attempt >= 20) throw error;
      await sleep(50 * attempt);
    }
  }
}

/**
 * registered → previous, then target → registered, with sessions ended
 * first; the tenant's login role may then connect to the registered name
 * (the restored contents) and no longer to the one set aside. Read from the
 * catalog each time: after a crash between the two renames, the registered
 * name is missing and only the second is done.
 */
export async function swapInRestoredDatabase(
  env: DbEnv,
  { registered, target, previous, role }: { registered: string; target: string; previous: string; role: string },
): Promise<'swapped' | 'already'> {
  return withClient(env.DATABASE_URL, async (admin) => {
    const [hasRegistered, hasTarget, hasPrevious] = await Promise.all([
      databaseExists(admin, registered),
      databaseExists(admin, target),
      databaseExists(admin, previous),
    ]);
    const settle = async () => {
      await grantConnect(admin, registered, role);
      if (await databaseExists(admin, previous)) await revokeConnect(admin, previous, role);
      await admin.query(`ALTER DATABASE ${quote(registered)} WITH ALLOW_CONNECTIONS true`);
    };
    if (!hasTarget) {
      if (!hasRegistered || !hasPrevious)
        throw new AppError('restore_failed', `the restored database ${target} is missing; restore again`);
      // Done before, perhaps up to the last statement only.
      await settle();
      return 'already';
    }
    if (hasRegistered && hasPrevious) {
      throw new AppError('conflict', `both ${registered} and ${previous} exist; the swap cannot continue safely`);
    }
    if (hasRegistered) await closeAndRenameDatabase(admin, registered, previous);
    await closeAndRenameDatabase(admin, target, registered);
    await settle();
    return 'swapped';
  });
}
