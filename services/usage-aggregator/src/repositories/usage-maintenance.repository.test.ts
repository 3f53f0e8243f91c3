import { randomUUID } from 'node:crypto';
import { openPlatformPool, platformNames, withDatabase, type DatabasePool } from '@deeplens/shared';
import { testEnv } from '@deeplens/shared/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maintainLogPartitions, pruneEventKeys } from './usage-maintenance.repository.js';

// The platform database of this test run, as the services see it (platform_service) and as its owner.
const env = testEnv();
let pool: DatabasePool;
let admin: pg.Client;

beforeAll(async () => {
  pool = await openPlatformPool({
    DATABASE_URL: env.DATABASE_URL!,
    DEEPLENS_DB_PREFIX: env.DEEPLENS_DB_PREFIX!,
    DEEPLENS_PLATFORM_SERVICE_PASSWORD: undefined,
    DEEPLENS_PLATFORM_POOL_SIZE: 4,
  });
  admin = new pg.Client({
    connectionString: withDatabase(env.DATABASE_URL!, platformNames(env.DEEPLENS_DB_PREFIX!).platformDatabase),
  });
  await admin.connect();
});

afterAll(async () => {
  await pool?.end();
  await admin?.end();
});

const monthsFromNow = (months: number) => {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + months, 1));
};
const partitionOf = (month: Date) =>
  `api_usage_logs_y${month.getUTCFullYear()}m${String(month.getUTCMonth() + 1).padStart(2, '0')}`;
const partitions = async () =>
  (
    await admin.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'api_usage_logs'::regclass`,
    )
  ).rows.map((row) => row.name);
const partitionHolding = async (eventId: string) =>
  (await admin.query(`SELECT tableoid::regclass::text AS part FROM api_usage_logs WHERE event_id = $1`, [eventId]))
    .rows[0]?.part ?? null;

async function insertLog(occurredAt: Date): Promise<string> {
  const eventId = randomUUID();
  await admin.query(
    `INSERT INTO api_usage_logs (event_id, tenant_id, endpoint, method, status_code, duration_ms, occurred_at)
     VALUES ($1, $2, '/v1/x', 'GET', 200, 1, $3)`,
    [eventId, randomUUID(), occurredAt],
  );
  return eventId;
}

describe('api_usage_logs partition maintenance', () => {
  it('creates months ahead, splits rows out of the default partition, drops and purges past retention', async () => {
    const expired = monthsFromNow(-20);
    await admin.query(
      `CREATE TABLE IF NOT EXISTS ${partitionOf(expired)} PARTITION OF api_usage_logs FOR VALUES FROM ($$${expired.toISOString()}$$) TO ($$${monthsFromNow(-19).toISOString()}$$)`,
    );
    const twoMonthsAgo = monthsFromNow(-2);
    await admin.query(`DROP TABLE IF EXISTS ${partitionOf(twoMonthsAgo)}`);
    const recent = await insertLog(new Date(twoMonthsAgo.getTime() + 5 * 24 * 3600 * 1000));
    const ancient = await insertLog(monthsFromNow(-18));
    expect(await partitionHolding(recent)).toBe('api_usage_logs_default');

    // Two callers at once, as two replicas would: the function serialises them.
    await Promise.all([
      maintainLogPartitions(pool, { monthsAhead: 2, retentionMonths: 13 }),
      maintainLogPartitions(pool, { monthsAhead: 2, retentionMonths: 13 }),
    ]);

    const names = await partitions();
    for (const ahead of [0, 1, 2]) expect(names).toContain(partitionOf(monthsFromNow(ahead)));
    expect(names).not.toContain(partitionOf(expired));
    expect(await partitionHolding(recent)).toBe(partitionOf(twoMonthsAgo));
    expect(await partitionHolding(ancient)).toBeNull();

    // Nothing left to do the second time.
    const again = await maintainLogPartitions(pool, { monthsAhead: 2, retentionMonths: 13 });
    expect(again.filter((row) => row.action !== 'purged')).toEqual([]);
  });
});

describe('event-key ledger pruning', () => {
  it('forgets keys received before the retention and keeps the rest', async () => {
    const [old, young] = [randomUUID(), randomUUID()];
    await admin.query(
      `INSERT INTO usage_event_keys (event_id, tenant_id, occurred_at, received_at)
       VALUES ($1, $3, now() - interval '36 days', now() - interval '36 days'),
              ($2, $3, now() - interval '34 days', now() - interval '34 days')`,
      [old, young, randomUUID()],
    );
    await pruneEventKeys(pool, 35, 1);
    const { rows } = await admin.query(`SELECT event_id FROM usage_event_keys WHERE event_id = ANY($1)`, [
      [old, young],
    ]);
    expect(rows.map((row) => row.event_id)).toEqual([young]);
  });
});
