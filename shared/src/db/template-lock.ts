import type pg from 'pg';

/**
 * CREATE DATABASE … TEMPLATE fails while anyone is connected to the template.
 * Our own template migrations take this lock exclusively; every clone takes it
 * shared, so the two never overlap and clones never wait on each other.
 * Advisory locks are scoped to one database: both sides take it on a
 * connection to DATABASE_URL's database.
 */
function templateLockKey(prefix: string): string {
  return `${prefix}deeplens.template`;
}

export async function withTemplateLock<T>(
  adminClient: pg.ClientBase,
  prefix: string,
  mode: 'shared' | 'exclusive',
  work: () => Promise<T>,
): Promise<T> {
  const lock = mode === 'shared' ? 'pg_advisory_lock_shared' : 'pg_advisory_lock';
  const unlock = mode === 'shared' ? 'pg_advisory_unlock_shared' : 'pg_advisory_unlock';
  await adminClient.query(`SELECT ${lock}(hashtext($1))`, [templateLockKey(prefix)]);
  try {
    return await work();
  } finally {
    await adminClient.query(`SELECT ${unlock}(hashtext($1))`, [templateLockKey(prefix)]).catch(() => undefined);
  }
}
