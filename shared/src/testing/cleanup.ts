import { Redis } from 'ioredis';
import pg from 'pg';
import { withClient } from '../db/migrations.js';

/** Drops every database and role whose name starts with the prefix. */
export async function dropPrefixedDatabases(databaseUrl: string, prefix: string): Promise<void> {
  if (!/^t[a-z0-9]+_$/.test(prefix)) throw new Error(`refusing to drop databases for prefix "${prefix}"`);
  await withClient(databaseUrl, async (admin) => {
    const { rows } = await admin.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE starts_with(datname, $1)`,
      [prefix],
    );
    for (const { datname } of rows) {
      await admin.query(`ALTER DATABASE ${pg.escapeIdentifier(datname)} WITH IS_TEMPLATE false`);
      await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(datname)} WITH (FORCE)`);
    }
    const roles = await admin.query<{ rolname: string }>(
      `SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)`,
      [prefix],
    );
    for (const { rolname } of roles.rows) {
      await admin.query(`DROP OWNED BY ${pg.escapeIdentifier(rolname)}`).catch(() => undefined);
      await admin.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(rolname)}`);
    }
  });
}

/** Deletes every Redis key under a queue prefix (BullMQ keys are `<prefix>:<queue>:…`). */
export async function deleteRedisKeys(redisUrl: string, keyPrefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 3 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
