import { randomUUID } from 'node:crypto';
import {
  migrateTenantDatabase,
  openPool,
  platformNames,
  sql,
  tenantDatabaseName,
  tenantLoginRoleName,
  withClient,
} from '@deeplens/shared';
import { makeTenantLogin, TEST_ENCRYPTION_KEY, uniqueName } from '@deeplens/shared/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { cloneTenantDatabase, dropTenantDatabase } from '../src/steps/tenant-database.steps.js';

/**
 * tenant_service trying to get out of row level security, and a single
 * pooled connection shared by many tenants never showing one tenant
 * another's rows. Complements rls-isolation.test.ts (the basic policy).
 */
const env = { DATABASE_URL: process.env.DATABASE_URL!, DEEPLENS_DB_PREFIX: process.env.DEEPLENS_DB_PREFIX! };
const names = platformNames(env.DEEPLENS_DB_PREFIX);
const database = tenantDatabaseName(env.DEEPLENS_DB_PREFIX, uniqueName('escape'));
const tenants = Array.from({ length: 8 }, () => randomUUID());
const [tenantA, tenantB] = tenants as [string, string];
// A tenant's own login role (a member of the tenant_service group), made as provisioning makes it.
let login: { tenantId: string; uri: string };
const asTenantService = () => login.uri;
const asRole = <T>(work: (client: pg.Client) => Promise<T>) => withClient(asTenantService(), work);
const refused = { code: expect.stringMatching(/^(42501|0A000)$/) };

beforeAll(async () => {
  await cloneTenantDatabase(env, database);
  await migrateTenantDatabase(env, database);
  login = await makeTenantLogin({ ...env, DEEPLENS_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY }, database);
  // Each tenant gets as many collections as its position (1..8), so a leak also shows as a wrong count.
  await asRole(async (client) => {
    for (const [index, tenant] of tenants.entries()) {
      await client.query('BEGIN');
      await client.query('SELECT set_tenant_context($1, true)', [tenant]);
      for (let n = 0; n <= index; n++)
        await client.query('INSERT INTO image_collections (tenant_id, name) VALUES ($1, $2)', [
          tenant,
          `c${index}-${n}`,
        ]);
      await client.query('COMMIT');
    }
  });
});
afterAll(async () => {
  await dropTenantDatabase(env, database);
});

describe('tenant_service cannot escape row level security', () => {
  it('cannot take another role: SET ROLE, SET SESSION AUTHORIZATION, set_config(role), ALTER ROLE', async () => {
    await asRole(async (client) => {
      for (const role of [
        'postgres',
        names.platformRole,
        names.identityRole,
        'pg_read_all_data',
        'pg_write_all_data',
      ]) {
        await expect(client.query(`SET ROLE ${pg.escapeIdentifier(role)}`)).rejects.toMatchObject(refused);
      }
      await expect(client.query('SET SESSION AUTHORIZATION postgres')).rejects.toMatchObject(refused);
      await expect(client.query("SELECT set_config('role', 'postgres', false)")).rejects.toMatchObject(refused);
      await expect(client.query("SELECT set_config('session_authorization', 'postgres', false)")).rejects.toMatchObject(
        refused,
      );
      for (const role of [names.tenantRole, tenantLoginRoleName(env.DEEPLENS_DB_PREFIX, login.tenantId)]) {
        await expect(client.query(`ALTER ROLE ${pg.escapeIdentifier(role)} BYPASSRLS`)).rejects.toMatchObject(refused);
      }
      await expect(client.query('ALTER TABLE image_collections NO FORCE ROW LEVEL SECURITY')).rejects.toMatchObject(
        refused,
      );
      await expect(client.query('DROP POLICY IF EXISTS tenant_isolation ON image_collections')).rejects.toMatchObject(
        refused,
      );
      // RESET ROLE goes back to the tenant's login role itself: still bound, still no context, still nothing.
      await client.query('RESET ROLE');
      await client.query('RESET ALL');
      const { rows } = await client.query(
        'SELECT current_user AS who, (SELECT count(*)::int FROM image_collections) AS seen',
      );
      expect(rows).toEqual([{ who: tenantLoginRoleName(env.DEEPLENS_DB_PREFIX, login.tenantId), seen: 0 }]);
    });
  });

  it('cannot switch the policy off or widen it through settings', async () => {
    await asRole(async (client) => {
      // row_security = off never bypasses for a role without BYPASSRLS: the query fails instead.
      await client.query('SELECT set_tenant_context($1)', [tenantA]);
      await client.query('SET row_security = off');
      await expect(client.query('SELECT * FROM image_collections')).rejects.toMatchObject(refused);
      await client.query('RESET row_security');
      // Contexts that try to match more than one tenant are errors, never a wider view.
      for (const value of [`${tenantA},${tenantB}`, `${tenantA}' OR '1'='1`, '%', '*', `{${tenantA},${tenantB}}`]) {
        await client.query("SELECT set_config('app.current_tenant_id', $1, false)", [value]);
        await expect(client.query('SELECT * FROM image_collections')).rejects.toMatchObject({ code: '22P02' });
      }
      // An empty context sees nothing.
      await client.query("SELECT set_config('app.current_tenant_id', '', false)");
      expect((await client.query('SELECT * FROM image_collections')).rowCount).toBe(0);
    });
  });

  it('loses a transaction-local context at commit and on rollback', async () => {
    await asRole(async (client) => {
      await client.query('BEGIN');
      await client.query('SELECT set_tenant_context($1, true)', [tenantB]);
      expect((await client.query('SELECT * FROM image_collections')).rowCount).toBe(2);
      await client.query('COMMIT');
      expect((await client.query('SELECT * FROM image_collections')).rowCount).toBe(0);
      await client.query('BEGIN');
      await client.query('SELECT set_tenant_context($1, true)', [tenantB]);
      await client.query('ROLLBACK');
      expect((await client.query('SELECT * FROM image_collections')).rowCount).toBe(0);
    });
  });

  it("cannot write under another tenant's id by any route: INSERT, UPSERT, UPDATE, COPY", async () => {
    await asRole(async (client) => {
      await client.query('SELECT set_tenant_context($1)', [tenantA]);
      await expect(
        client.query('INSERT INTO image_collections (tenant_id, name) VALUES ($1, $2)', [tenantB, 'forged']),
      ).rejects.toMatchObject(refused);
      await expect(
        client.query('INSERT INTO image_collections (tenant_id, name) SELECT $1::uuid, name FROM image_collections', [
          tenantB,
        ]),
      ).rejects.toMatchObject(refused);
      await expect(client.query('UPDATE image_collections SET tenant_id = $1', [tenantB])).rejects.toMatchObject(
        refused,
      );
      await expect(client.query(`COPY image_collections (tenant_id, name) FROM STDIN`)).rejects.toMatchObject(refused);
      // Reading or deleting by naming the other tenant finds nothing.
      expect((await client.query('SELECT * FROM image_collections WHERE tenant_id = $1', [tenantB])).rowCount).toBe(0);
      expect((await client.query('DELETE FROM image_collections WHERE tenant_id = $1', [tenantB])).rowCount).toBe(0);
      // Nor can it plant code that would run with more rights.
      await expect(
        client.query(
          'CREATE FUNCTION leak() RETURNS SETOF image_collections LANGUAGE sql SECURITY DEFINER AS $$ SELECT * FROM image_collections $$',
        ),
      ).rejects.toMatchObject(refused);
    });
    const counts = await asRole(async (client) => {
      await client.query('SELECT set_tenant_context($1)', [tenantB]);
      return (await client.query('SELECT count(*)::int AS n FROM image_collections')).rows[0].n;
    });
    expect(counts).toBe(2);
  });
});

describe('one pooled connection shared by many tenants', () => {
  it('10,000 interleaved requests for 8 tenants over a pool of size 1 each see exactly their own rows', async () => {
    const pool = await openPool(asTenantService(), { maximumPoolSize: 1 });
    const row = z.object({ tenant_id: z.string(), name: z.string() });
    const mismatches: string[] = [];
    try {
      const request = async (index: number) => {
        const tenant = tenants[(index * 5 + Math.floor(index / 7)) % tenants.length]!;
        const expected = tenants.indexOf(tenant) + 1;
        // Half with a transaction-local context, half with a session one on a borrowed connection (reset when returned).
        const rows =
          index % 2 === 0
            ? await pool.transaction(async (trx) => {
                await trx.query(sql.unsafe`SELECT set_tenant_context(${tenant}, true)`);
                return trx.any(sql.type(row)`SELECT tenant_id, name FROM image_collections`);
              })
            : await pool.connect(async (connection) => {
                await connection.query(sql.unsafe`SELECT set_tenant_context(${tenant})`);
                return connection.any(sql.type(row)`SELECT tenant_id, name FROM image_collections`);
              });
        if (rows.length !== expected || rows.some((found) => found.tenant_id !== tenant)) {
          mismatches.push(
            `request ${index} for ${tenant}: ${rows.length} rows, tenants ${[...new Set(rows.map((found) => found.tenant_id))].join(',')}`,
          );
        }
      };
      // 100 waves of 100 concurrent requests: they queue for the one connection in an interleaved order.
      for (let wave = 0; wave < 100; wave++)
        await Promise.all(Array.from({ length: 100 }, (_, offset) => request(wave * 100 + offset)));
      // And the connection handed back after all of them carries no context.
      const left = await pool.oneFirst(
        sql.type(
          z.object({ c: z.string().nullable() }),
        )`SELECT nullif(current_setting('app.current_tenant_id', true), '') AS c`,
      );
      expect(left).toBeNull();
    } finally {
      await pool.end();
    }
    expect(mismatches).toEqual([]);
  }, 240_000);
});

describe('names and identifiers that try SQL', () => {
  it('quotes a database name made of SQL: created as a plain (odd) name, nothing else happens', async () => {
    const hostile = `${env.DEEPLENS_DB_PREFIX}tenant_x"; DROP DATABASE postgres; --_metadata`;
    await cloneTenantDatabase(env, hostile);
    try {
      const found = await withClient(env.DATABASE_URL, async (client) =>
        (
          await client.query('SELECT datname FROM pg_database WHERE datname = ANY($1::text[]) ORDER BY datname', [
            [hostile, 'postgres'],
          ])
        ).rows.map((r) => r.datname),
      );
      expect(found.sort()).toEqual([hostile, 'postgres'].sort());
    } finally {
      await dropTenantDatabase(env, hostile);
    }
  });
});
