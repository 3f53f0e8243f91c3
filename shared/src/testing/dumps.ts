import { withDatabase } from '../db/connection-uri.js';
import { withClient } from '../db/migrations.js';
import { platformNames } from '../db/names.js';
import { createProducerConnection } from '../queues/redis.js';

/**
 * Everything the platform stored, as text: tests that prove a secret never
 * lands anywhere search these dumps for it.
 */

/** Every row of every table of the platform database, as text. */
export async function dumpPlatformDatabase(env: Record<string, string>): Promise<string> {
  const url = withDatabase(env.DATABASE_URL!, platformNames(env.DEEPLENS_DB_PREFIX!).platformDatabase);
  return withClient(url, async (client) => {
    const tables = await client.query<{ name: string }>(
      `SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) AS name
         FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`,
    );
    const parts: string[] = [];
    for (const { name } of tables.rows) {
      const { rows } = await client.query<{ row: string }>(`SELECT t::text AS row FROM ${name} t`);
      parts.push(`-- ${name}`, ...rows.map((row) => row.row));
    }
    return parts.join('\n');
  });
}

/** Every value under this run's queue prefix in Redis (job data, options, results, failures, events). */
export async function dumpRedis(env: Record<string, string>): Promise<string> {
  const redis = createProducerConnection(env.REDIS_URL!, { enableOfflineQueue: true, commandTimeout: 5_000 });
  try {
    const parts: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${env.DEEPLENS_QUEUE_PREFIX}:*`, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) {
        const type = await redis.type(key);
        const value =
          type === 'string'
            ? await redis.get(key)
            : type === 'hash'
              ? await redis.hgetall(key)
              : type === 'list'
                ? await redis.lrange(key, 0, -1)
                : type === 'set'
                  ? await redis.smembers(key)
                  : type === 'zset'
                    ? await redis.zrange(key, 0, -1)
                    : type === 'stream'
                      ? await redis.xrange(key, '-', '+')
                      : null;
        parts.push(`-- ${key}`, JSON.stringify(value));
      }
    } while (cursor !== '0');
    return parts.join('\n');
  } finally {
    redis.disconnect();
  }
}
