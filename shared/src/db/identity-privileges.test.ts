import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testEnv } from '../testing/index.js';
import { withCredentials, withDatabase } from './connection-uri.js';
import { withClient } from './migrations.js';
import { platformNames } from './names.js';

/**
 * The identity database as the role that holds tenant contexts
 * (identity_service) sees it: reads under RLS, changes only through the
 * functions of infra/migrations/identity/0002, which check the tenant.
 */
const env = testEnv();
const names = platformNames(env.DEEPLENS_DB_PREFIX!);
const identityAdmin = withDatabase(env.DATABASE_URL!, names.identityDatabase);
const asIdentityService = withCredentials(identityAdmin, names.identityRole, undefined);
const [tenantA, tenantB] = [randomUUID(), randomUUID()];
const [alice, bob, carol] = [randomUUID(), randomUUID(), randomUUID()];
const refused = { code: '42501' };

const adminQuery = <T>(text: string, values: unknown[] = []) =>
  withClient(identityAdmin, async (client) => (await client.query(text, values)).rows as T[]);
const inTenant = <T>(tenant: string, work: (client: pg.Client) => Promise<T>) =>
  withClient(asIdentityService, async (client) => {
    await client.query('SELECT set_tenant_context($1)', [tenant]);
    return work(client);
  });

beforeAll(async () => {
  // Alice is A's, Bob is B's, Carol belongs to both (added by the platform).
  await adminQuery('INSERT INTO users (id, email, password_hash) VALUES ($1, $2, $7), ($3, $4, $7), ($5, $6, $7)', [
    alice,
    `${alice}@a.test`,
    bob,
    `${bob}@b.test`,
    carol,
    `${carol}@c.test`,
    'original-hash',
  ]);
  await adminQuery(
    "INSERT INTO tenant_memberships (tenant_id, user_id, role_id) VALUES ($1, $2, 'owner'), ($3, $4, 'owner'), ($1, $5, 'member'), ($3, $5, 'member')",
    [tenantA, alice, tenantB, bob, carol],
  );
});
afterAll(() => adminQuery('DELETE FROM users WHERE id = ANY($1)', [[alice, bob, carol]]));

const hashOf = async (user: string) =>
  (await adminQuery<{ password_hash: string }>('SELECT password_hash FROM users WHERE id = $1', [user]))[0]
    ?.password_hash;
const tenantsOf = async (user: string) =>
  (
    await adminQuery<{ tenant_id: string }>(
      'SELECT tenant_id FROM tenant_memberships WHERE user_id = $1 ORDER BY tenant_id',
      [user],
    )
  ).map((row) => row.tenant_id);

describe('identity database as identity_service', () => {
  it("cannot take another tenant's user into its tenant, by INSERT or by add_membership", async () => {
    await inTenant(tenantA, async (client) => {
      await expect(
        client.query("INSERT INTO tenant_memberships (tenant_id, user_id, role_id) VALUES ($1, $2, 'admin')", [
          tenantA,
          bob,
        ]),
      ).rejects.toMatchObject(refused);
      await expect(client.query("SELECT add_membership($1, 'admin')", [bob])).rejects.toMatchObject(refused);
    });
    expect(await tenantsOf(bob)).toEqual([tenantB]);
  });

  it("cannot rewrite another tenant's user's password_hash, directly or through update_user", async () => {
    await inTenant(tenantA, async (client) => {
      await expect(
        client.query("UPDATE users SET password_hash = 'attacker' WHERE id = $1", [bob]),
      ).rejects.toMatchObject(refused);
      await expect(client.query("SELECT update_user($1, NULL, NULL, 'attacker')", [bob])).rejects.toMatchObject({
        code: 'P0002',
      });
      // Nor a user it shares with another tenant: that user is the other tenant's too.
      await expect(client.query("SELECT update_user($1, NULL, NULL, 'attacker')", [carol])).rejects.toMatchObject(
        refused,
      );
      await expect(client.query('DELETE FROM users WHERE id = $1', [alice])).rejects.toMatchObject(refused);
    });
    expect([await hashOf(bob), await hashOf(carol)]).toEqual(['original-hash', 'original-hash']);
  });

  it('does nothing without a tenant context', async () => {
    await withClient(asIdentityService, async (client) => {
      expect((await client.query('SELECT id FROM users')).rows).toEqual([]);
      await expect(client.query("SELECT create_user('x@x.test', NULL, NULL, 'member')")).rejects.toMatchObject(refused);
      await expect(client.query("SELECT change_membership_role($1, 'viewer')", [alice])).rejects.toMatchObject(refused);
    });
  });

  it('manages its own users through the functions: create, change role, update, remove (which deletes a user left in no tenant)', async () => {
    const dave = await inTenant(tenantA, async (client) => {
      const { rows } = await client.query("SELECT create_user($1, 'Dave', 'dave-hash', 'member') AS id", [
        `${randomUUID()}@a.test`,
      ]);
      const id = rows[0].id as string;
      await client.query("SELECT change_membership_role($1, 'admin')", [id]);
      await client.query("SELECT update_user($1, NULL, 'David', 'new-hash')", [id]);
      expect(
        (
          await client.query(
            'SELECT u.display_name, m.role_id FROM users u JOIN tenant_memberships m ON m.user_id = u.id WHERE u.id = $1',
            [id],
          )
        ).rows,
      ).toEqual([{ display_name: 'David', role_id: 'admin' }]);
      return id;
    });
    expect(await hashOf(dave)).toBe('new-hash');
    await inTenant(tenantB, (client) =>
      expect(client.query('SELECT remove_membership($1)', [dave])).rejects.toMatchObject({ code: 'P0002' }),
    );
    await inTenant(tenantA, (client) => client.query('SELECT remove_membership($1)', [dave]));
    expect(await adminQuery('SELECT 1 FROM users WHERE id = $1', [dave])).toEqual([]);
  });

  it('has a WITH CHECK on every policy that governs UPDATE', async () => {
    const loose = await adminQuery(
      "SELECT tablename, policyname FROM pg_policies WHERE schemaname = 'public' AND cmd IN ('UPDATE', 'ALL') AND with_check IS NULL",
    );
    expect(loose).toEqual([]);
  });

  it('is the only service role that may connect: tenant_service may not log in', async () => {
    const asGroup = withCredentials(identityAdmin, names.tenantRole, undefined);
    await expect(withClient(asGroup, async () => 'connected')).rejects.toMatchObject({ code: '28000' });
    const asPlatform = withCredentials(identityAdmin, names.platformRole, undefined);
    await expect(withClient(asPlatform, async () => 'connected')).rejects.toMatchObject(refused);
  });
});
