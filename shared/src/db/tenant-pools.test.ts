import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testEnv, waitFor } from '../testing/index.js';
import { platformNames } from './names.js';
import { sql } from './sql.js';
import { TenantPools } from './tenant-pools.js';

// Three real databases of this test run stand in for tenant databases.
const env = testEnv();
const names = platformNames(env.DEEPLENS_DB_PREFIX!);
const databases = [
  names.platformDatabase,
  names.identityDatabase,
  new URL(env.DATABASE_URL!).pathname.slice(1) || 'postgres',
];
const applicationName = `tenant-pools-test-${randomBytes(3).toString('hex')}`;
const connectionUri = (() => {
  const url = new URL(env.DATABASE_URL!);
  url.searchParams.set('application_name', applicationName);
  return url.toString();
})();
let observer: pg.Client;

beforeAll(async () => {
  observer = new pg.Client({ connectionString: env.DATABASE_URL });
  await observer.connect();
});
afterAll(() => observer?.end());

const openConnections = async () =>
  Number(
    (await observer.query('SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1', [applicationName]))
      .rows[0].n,
  );

describe('TenantPools', () => {
  it('never holds more connections than allowed: a third database waits for an idle pool to close', async () => {
    const pools = new TenantPools({ connectionUri, maxConnections: 2, idleMs: 60_000, connectionsPerDatabase: 1 });
    try {
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const order: string[] = [];
      const hold = (database: string) =>
        pools.use(database, async (pool) => {
          await pool.query(sql.unsafe`SELECT 1`);
          order.push(`in ${database}`);
          await held;
          order.push(`out ${database}`);
        });
      const first = hold(databases[0]!);
      const second = hold(databases[1]!);
      await waitFor(() => (order.length === 2 ? true : undefined), { what: 'two pools in use' });
      const third = pools.use(databases[2]!, async (pool) => {
        order.push(`in ${databases[2]}`);
        return pool.oneFirst(sql.unsafe`SELECT current_database()`);
      });
      expect(pools.stats().reservedConnections).toBe(2);
      expect(await openConnections()).toBeLessThanOrEqual(2);
      expect(order).toHaveLength(2); // the third is still waiting
      release();
      expect(await third).toBe(databases[2]);
      await Promise.all([first, second]);
      expect(order.indexOf(`in ${databases[2]}`)).toBeGreaterThan(order.indexOf(`out ${databases[0]}`));
      expect(pools.stats().reservedConnections).toBeLessThanOrEqual(2);
      expect(await openConnections()).toBeLessThanOrEqual(2);
    } finally {
      await pools.close();
    }
  });

  it('closes a pool left idle, and releases the budget of a database that cannot be opened', async () => {
    const pools = new TenantPools({ connectionUri, maxConnections: 4, idleMs: 100 });
    try {
      await pools.use(databases[0]!, (pool) => pool.query(sql.unsafe`SELECT 1`));
      expect(pools.stats().openPools).toBe(1);
      await waitFor(
        () => (pools.stats().openPools === 0 && pools.stats().reservedConnections === 0 ? true : undefined),
        {
          what: 'idle pool closed',
        },
      );
      await waitFor(async () => ((await openConnections()) === 0 ? true : undefined), { what: 'connections gone' });

      await expect(pools.use(`${env.DEEPLENS_DB_PREFIX}no_such_database`, async () => 1)).rejects.toThrow();
      expect(pools.stats().reservedConnections).toBe(0);
      expect(await pools.use(databases[1]!, (pool) => pool.oneFirst(sql.unsafe`SELECT 1 AS one`))).toBe(1);
    } finally {
      await pools.close();
    }
  });
});
