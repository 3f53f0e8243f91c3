import { randomUUID } from 'node:crypto';
import {
  migrateTenantDatabase,
  openPool,
  platformNames,
  sql,
  tenantDatabaseName,
  withClient,
  withDatabase,
} from '@deeplens/shared';
import { makeTenantLogin, TEST_ENCRYPTION_KEY, uniqueName } from '@deeplens/shared/testing';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { assertRowLevelSecurity, cloneTenantDatabase, dropTenantDatabase } from '../src/steps/tenant-database.steps.js';

/**
 * Isolation inside a tenant database, as the tenant_service role sees it.
 * The database is cloned exactly as provisioning clones it.
 */
const env = {
  DATABASE_URL: process.env.DATABASE_URL!,
  DEEPLENS_DB_PREFIX: process.env.DEEPLENS_DB_PREFIX!,
};
const _names = platformNames(env.DEEPLENS_DB_PREFIX);
const database = tenantDatabaseName(env.DEEPLENS_DB_PREFIX, uniqueName('rls'));
const tenantA = randomUUID();
const tenantB = randomUUID();
// A tenant's own login role (a member of the tenant_service group), made as provisioning makes it.
let login: { tenantId: string; uri: string };
const asTenantService = () => login.uri;

async function asRole<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  return withClient(asTenantService(), work);
}

beforeAll(async () => {
  await cloneTenantDatabase(env, database);
  await migrateTenantDatabase(env, database);
  login = await makeTenantLogin({ ...env, DEEPLENS_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY }, database);
  await assertRowLevelSecurity(env, database);
  // Seed one collection per tenant, each with its own context.
  await asRole(async (client) => {
    for (const [tenant, name] of [
      [tenantA, 'a-photos'],
      [tenantB, 'b-photos'],
    ] as const) {
      await client.query('BEGIN');
      await client.query('SELECT set_tenant_context($1, true)', [tenant]);
      await client.query('INSERT INTO image_collections (tenant_id, name) VALUES ($1, $2)', [tenant, name]);
      await client.query('COMMIT');
    }
  });
});

afterAll(async () => {
  await dropTenantDatabase(env, database);
});

describe('row level security as tenant_service', () => {
  it('shows a tenant its own rows and none of another tenant', async () => {
    const visible = await asRole(async (client) => {
      await client.query('SELECT set_tenant_context($1)', [tenantA]);
      return (await client.query('SELECT tenant_id, name FROM image_collections')).rows;
    });
    expect(visible).toEqual([{ tenant_id: tenantA, name: 'a-photos' }]);
  });

  it('shows nothing without a tenant context, and refuses writes', async () => {
    await asRole(async (client) => {
      expect((await client.query('SELECT * FROM image_collections')).rowCount).toBe(0);
      await expect(
        client.query('INSERT INTO image_collections (tenant_id, name) VALUES ($1, $2)', [tenantA, 'sneaky']),
      ).rejects.toMatchObject({ code: '42501' });
    });
  });

  it("refuses writing another tenant's id, and updating a row into another tenant", async () => {
    await asRole(async (client) => {
      await client.query('SELECT set_tenant_context($1)', [tenantA]);
      await expect(
        client.query('INSERT INTO images (tenant_id, storage_path) VALUES ($1, $2)', [tenantB, 'forged.jpg']),
      ).rejects.toMatchObject({ code: '42501' });
      await expect(client.query('UPDATE image_collections SET tenant_id = $1', [tenantB])).rejects.toMatchObject({
        code: '42501',
      });
      // Deleting another tenant's rows silently affects nothing.
      const deleted = await client.query("DELETE FROM image_collections WHERE name = 'b-photos'");
      expect(deleted.rowCount).toBe(0);
    });
  });

  it('cannot switch RLS off, take another role, or read the migration ledger', async () => {
    await asRole(async (client) => {
      await expect(client.query('ALTER TABLE images DISABLE ROW LEVEL SECURITY')).rejects.toMatchObject({
        code: '42501',
      });
      await expect(client.query('SET ROLE postgres')).rejects.toMatchObject({ code: '42501' });
      await expect(client.query('SELECT * FROM deeplens_schema_migrations')).rejects.toMatchObject({ code: '42501' });
      // A malformed context is an error, never a wider view.
      await client.query("SELECT set_config('app.current_tenant_id', 'not-a-uuid', false)");
      await expect(client.query('SELECT * FROM image_collections')).rejects.toMatchObject({ code: '22P02' });
    });
  });

  it('never leaks a tenant context to the next user of a pooled connection', async () => {
    const pool = await openPool(asTenantService(), { maximumPoolSize: 1 });
    try {
      const row = z.object({ tenant: z.string().nullable() });
      const rows = z.object({ name: z.string() });
      // The first user sets a session-level context (the seed's set_tenant_context) and returns the connection.
      await pool.connect(async (connection) => {
        await connection.query(sql.unsafe`SELECT set_tenant_context(${tenantA})`);
        expect(await connection.anyFirst(sql.type(rows)`SELECT name FROM image_collections`)).toEqual(['a-photos']);
      });
      // The next user of the same (only) connection starts with no context and sees nothing.
      await pool.connect(async (connection) => {
        expect(
          await connection.oneFirst(
            sql.type(row)`SELECT nullif(current_setting('app.current_tenant_id', true), '') AS tenant`,
          ),
        ).toBeNull();
        expect(await connection.anyFirst(sql.type(rows)`SELECT name FROM image_collections`)).toEqual([]);
      });
    } finally {
      await pool.end();
    }
  });

  it('refuses a tenant database in which a table lacks forced row level security', async () => {
    const leaky = tenantDatabaseName(env.DEEPLENS_DB_PREFIX, uniqueName('leaky'));
    await cloneTenantDatabase(env, leaky);
    try {
      await withClient(withDatabase(env.DATABASE_URL, leaky), (client) =>
        client.query('CREATE TABLE notes (tenant_id uuid, body text); ALTER TABLE images NO FORCE ROW LEVEL SECURITY'),
      );
      await expect(assertRowLevelSecurity(env, leaky)).rejects.toMatchObject({
        code: 'rls_not_enforced',
        message: expect.stringMatching(
          /public\.notes: row level security is not enabled.*public\.images: row level security is not forced|public\.images: row level security is not forced.*public\.notes/,
        ),
      });
    } finally {
      await dropTenantDatabase(env, leaky);
    }
  });
});
