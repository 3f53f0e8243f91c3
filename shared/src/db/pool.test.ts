import pg from 'pg';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testEnv } from '../testing/index.js';
import { openPool, type DatabasePool } from './pool.js';
import { sql } from './sql.js';

// One connection, so every use below gets the connection the one before it returned.
const env = testEnv();
let pool: DatabasePool;
beforeAll(async () => {
  pool = await openPool(env.DATABASE_URL!, { maximumPoolSize: 1 });
});
afterAll(() => pool?.end());

const backend = () => pool.oneFirst(sql.type(z.object({ pid: z.number() }))`SELECT pg_backend_pid() AS pid`);
const setting = () =>
  pool.oneFirst(sql.type(z.object({ value: z.string() }))`SELECT current_setting('deeplens.test', true) AS value`);
const lockKey = `pool-test/${Math.random()}`;
const heldLocks = () =>
  pool.oneFirst(sql.type(z.object({ n: z.number() }))`
    SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()`);

describe('the pool’s connection reset', () => {
  it('resets a connection held explicitly: a session setting or advisory lock left behind never reaches the next user', async () => {
    const pid = await backend();
    await pool.connect(async (connection) => {
      await connection.query(sql.unsafe`SELECT set_config('deeplens.test', 'left behind', false)`);
      await connection.query(sql.unsafe`SELECT pg_advisory_lock(hashtext(${lockKey}))`);
    });
    expect(await backend()).toBe(pid); // the same session, reset
    expect(await setting()).toBe('');
    expect(await heldLocks()).toBe(0);
  });

  it('does not reset after single queries and transactions, whose settings are transaction-local', async () => {
    const pid = await backend();
    await pool.transaction(async (trx) => {
      await trx.query(sql.unsafe`SELECT set_config('deeplens.test', 'local', true)`);
      expect(
        await trx.oneFirst(sql.type(z.object({ value: z.string() }))`SELECT current_setting('deeplens.test') AS value`),
      ).toBe('local');
    });
    expect(await setting()).toBe('');
    // A session value set by a single query (which the services never do) would survive: no DISCARD ALL ran.
    await pool.query(sql.unsafe`SELECT set_config('deeplens.test', 'session', false)`);
    expect(await backend()).toBe(pid);
    expect(await setting()).toBe('session');
    await pool.query(sql.unsafe`RESET deeplens.test`);
  });
});

describe('a connection PostgreSQL ends', () => {
  it('does not take the process down when nobody listens on the client (slonik’s type-reading client)', async () => {
    // What @slonik/pg-driver does for every new pool: a plain client, no 'error' listener.
    const client = new pg.Client({ connectionString: env.DATABASE_URL });
    await client.connect();
    try {
      const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      // 'end' comes after the 57P01 'error' event: once it has, the error had its chance to escape.
      const ended = new Promise((resolve) => client.once('end', resolve));
      await pool.query(sql.unsafe`SELECT pg_terminate_backend(${rows[0]!.pid})`);
      // Without a listener the 57P01 error event is thrown out of the process here (vitest reports it).
      await ended;
      await expect(client.query('SELECT 1')).rejects.toThrow();
    } finally {
      await client.end().catch(() => undefined);
    }
  });
});
