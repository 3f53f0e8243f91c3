import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  baseEnvSchema,
  createLogger,
  migratePlatform,
  openPlatformPool,
  parseEnv,
  parseKeyring,
  platformNames,
  rotateKeys,
  storageConfigsRepository,
  webhookSubscribersRepository,
  withClient,
  withDatabase,
  type DatabasePool,
  type StorageProvider,
} from '@deeplens/shared';
import { testEnv, uniqueName } from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Key rotation round trip, on a platform database of its own (a nested prefix
 * of this run's, dropped with it): rotating re-seals every secret of the
 * database, which must not touch the configs other test files are using.
 */

const OLD = 'old:old-key-0123456789abcdef';
const NEW = 'new:new-key-fedcba9876543210';
const NEWER = 'newer:newer-key-00112233445566';
const base = testEnv();
const env: Record<string, string> = { ...base, DEEPLENS_DB_PREFIX: `${base.DEEPLENS_DB_PREFIX}rk_` };
const platformUrl = withDatabase(env.DATABASE_URL!, platformNames(env.DEEPLENS_DB_PREFIX!).platformDatabase);
let pool: DatabasePool;

const configs: Array<{ provider: StorageProvider; config: Record<string, unknown> }> = [
  {
    provider: 'aws_s3',
    config: {
      access_key: 'AKIAROTATE0000000001',
      secret_key: 'rotate-s3-secret-1',
      region: 'us-west-2',
      bucket: 'rotate-b',
    },
  },
  { provider: 'smb', config: { share_path: '//srv/share', username: 'u', password: 'rotate-smb-password-1' } },
  { provider: 'nfs', config: { mount_path: '/mnt/rotate' } },
];

async function insertTenant(): Promise<string> {
  const id = randomUUID();
  await withClient(platformUrl, (client) =>
    client.query(`INSERT INTO tenants (id, name, plan, status) VALUES ($1, $2, 'free', 'active')`, [
      id,
      uniqueName('rotate'),
    ]),
  );
  return id;
}

const keyIds = async () =>
  withClient(platformUrl, async (client) =>
    Object.fromEntries(
      (
        await client.query<{ tenant_id: string; key_id: string }>(
          'SELECT tenant_id, key_id FROM tenant_storage_configs',
        )
      ).rows.map((row) => [row.tenant_id, row.key_id]),
    ),
  );

const repositoryRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** `npm run keys:rotate` without the build step (or, with `deeplens`, `deeplens keys rotate --json`): the CLI from its sources. */
function runCli(
  encryptionKey: string,
  deeplens = false,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const script = deeplens ? ['services/cli/src/cli.ts', 'keys', 'rotate', '--json'] : ['shared/src/cli/rotate-keys.ts'];
  return new Promise((done) => {
    const child = spawn(
      process.execPath,
      ['--conditions=@deeplens/source', '--import', 'tsx', resolve(repositoryRoot, script[0]!), ...script.slice(1)],
      {
        cwd: repositoryRoot,
        env: { PATH: process.env.PATH ?? '', ...env, DEEPLENS_ENCRYPTION_KEY: encryptionKey, LOG_LEVEL: 'debug' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('exit', (code) => done({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  await migratePlatform(
    {
      DATABASE_URL: env.DATABASE_URL!,
      DEEPLENS_DB_PREFIX: env.DEEPLENS_DB_PREFIX!,
      DEEPLENS_PLATFORM_SERVICE_PASSWORD: undefined,
      DEEPLENS_TENANT_SERVICE_PASSWORD: undefined,
    },
    createLogger({ name: 'rotate-test', level: 'warn' }),
  );
  pool = await openPlatformPool(parseEnv(baseEnvSchema, env));
});

afterAll(async () => {
  await pool?.end();
});

describe('key rotation', () => {
  const tenants: string[] = [];

  it('round trip: old key still reads before rotation; after it, the old key can leave the keyring', async () => {
    const oldOnly = parseKeyring(OLD);
    for (const { provider, config } of configs) {
      const tenantId = await insertTenant();
      tenants.push(tenantId);
      await storageConfigsRepository.save(pool, { tenantId, provider, config }, oldOnly);
    }
    // The new key is first (encrypts); the old one stays for reading.
    const both = parseKeyring(`${NEW},${OLD}`);
    for (const [index, tenantId] of tenants.entries()) {
      expect((await storageConfigsRepository.readDecrypted(pool, tenantId, both))?.config).toEqual(
        configs[index]!.config,
      );
    }
    const newOnly = parseKeyring(NEW);
    await expect(storageConfigsRepository.readDecrypted(pool, tenants[0]!, newOnly)).rejects.toThrow(
      /key "old".*not in the keyring/,
    );

    // One written after the switch is already under the new key.
    const fresh = await insertTenant();
    await storageConfigsRepository.save(pool, { tenantId: fresh, provider: 'smb', config: configs[1]!.config }, both);

    const report = await rotateKeys(pool, both);
    expect(report).toMatchObject({
      currentKeyId: 'new',
      rotated: 3,
      migratedLegacy: 0,
      alreadyCurrent: 1,
      failed: [],
      remaining: 0,
    });
    expect(report.byKeyId.storage_config).toEqual({ new: 4 });
    const ids = await keyIds();
    for (const tenantId of [...tenants, fresh]) expect(ids[tenantId]).toBe('new');

    for (const [index, tenantId] of tenants.entries()) {
      const stored = await storageConfigsRepository.readDecrypted(pool, tenantId, newOnly);
      expect(stored?.config).toEqual(configs[index]!.config);
      expect(stored?.version).toBe(1); // same content: verifications in flight stay valid
    }
    await expect(storageConfigsRepository.readDecrypted(pool, tenants[0]!, oldOnly)).rejects.toThrow(
      /key "new", which is not in the keyring/,
    );

    // Idempotent: nothing left to do.
    expect(await rotateKeys(pool, both)).toMatchObject({ rotated: 0, remaining: 0, alreadyCurrent: 4 });
  });

  it('skips a row a writer holds, reports it as remaining, and finishes it when run again', async () => {
    const keyring = parseKeyring(`${NEWER},${NEW}`);
    const held = tenants[1]!;
    await withClient(platformUrl, async (client) => {
      await client.query('BEGIN');
      await client.query('SELECT 1 FROM tenant_storage_configs WHERE tenant_id = $1 FOR UPDATE', [held]);
      try {
        const report = await rotateKeys(pool, keyring);
        expect(report).toMatchObject({
          rotated: 3,
          remaining: 1,
          failed: [],
          byKeyId: { storage_config: { newer: 3, new: 1 } },
        });
      } finally {
        await client.query('ROLLBACK');
      }
    });
    const resumed = await rotateKeys(pool, keyring);
    expect(resumed).toMatchObject({ rotated: 1, remaining: 0, byKeyId: { storage_config: { newer: 4 } } });
    expect((await storageConfigsRepository.readDecrypted(pool, held, parseKeyring(NEWER)))?.config).toEqual(
      configs[1]!.config,
    );
  });

  it('legacy pgcrypto rows (storage and webhook) are read in the application, migrated by rotation, and open after it with only the new key', async () => {
    const LEGACY = 'legacy:legacy-key-5566778899aabb';
    const legacyKey = LEGACY.split(':')[1]!;
    const tenantId = await insertTenant();
    const webhookId = randomUUID();
    const secrets = { access_key: 'AKIALEGACY0000000001', secret_key: 'legacy-s3-secret-1' };
    const settings = { region: 'eu-west-1', bucket: 'legacy-b' };
    // Rows as the code before sealing wrote them: the key sent to PostgreSQL, the secret fields alone encrypted.
    await withClient(platformUrl, async (client) => {
      await client.query(
        `INSERT INTO tenant_storage_configs (tenant_id, provider, settings, secrets, key_id)
         VALUES ($1, 'aws_s3', $2, pgp_sym_encrypt($3, $4, 'cipher-algo=aes256'), 'legacy')`,
        [tenantId, settings, JSON.stringify(secrets), legacyKey],
      );
      await client.query(
        `INSERT INTO webhook_subscribers (id, url, secret, key_id)
         VALUES ($1, 'https://hooks.example/legacy', pgp_sym_encrypt('whsec_legacy-signing-secret', $2, 'cipher-algo=aes256'), 'legacy')`,
        [webhookId, legacyKey],
      );
    });
    const before = parseKeyring(`${NEWER},${LEGACY}`);
    expect((await storageConfigsRepository.readDecrypted(pool, tenantId, before))?.config).toEqual({
      ...settings,
      ...secrets,
    });
    expect(await webhookSubscribersRepository.readForDelivery(pool, webhookId, before)).toEqual({
      url: 'https://hooks.example/legacy',
      secret: 'whsec_legacy-signing-secret',
    });
    await expect(
      storageConfigsRepository.readDecrypted(pool, tenantId, parseKeyring(`legacy:not-the-legacy-key-000`)),
    ).rejects.toThrow(/legacy pgcrypto form\) does not open with key "legacy"/);

    const report = await rotateKeys(pool, before);
    expect(report).toMatchObject({ currentKeyId: 'newer', rotated: 2, migratedLegacy: 2, failed: [], remaining: 0 });
    expect(report.byKeyId).toEqual({ storage_config: { newer: 5 }, webhook_secret: { newer: 1 } });

    const [storage, webhook] = await withClient(platformUrl, async (client) => [
      (
        await client.query('SELECT secrets, sealed, key_id FROM tenant_storage_configs WHERE tenant_id = $1', [
          tenantId,
        ])
      ).rows[0],
      (await client.query('SELECT secret, sealed_secret, key_id FROM webhook_subscribers WHERE id = $1', [webhookId]))
        .rows[0],
    ]);
    expect(storage).toMatchObject({ secrets: null, sealed: expect.stringMatching(/^v1\.newer\./), key_id: 'newer' });
    expect(webhook).toMatchObject({
      secret: null,
      sealed_secret: expect.stringMatching(/^v1\.newer\./),
      key_id: 'newer',
    });
    expect(JSON.stringify([storage, webhook])).not.toMatch(/legacy-s3-secret-1|whsec_legacy/);

    const after = parseKeyring(NEWER);
    expect((await storageConfigsRepository.readDecrypted(pool, tenantId, after))?.config).toEqual({
      ...settings,
      ...secrets,
    });
    expect((await webhookSubscribersRepository.readForDelivery(pool, webhookId, after))?.secret).toBe(
      'whsec_legacy-signing-secret',
    );
  });

  it("a sealed config copied onto another tenant's row does not open there, in words that name no key", async () => {
    const keyring = parseKeyring(NEWER);
    const [victim, thief] = [await insertTenant(), await insertTenant()];
    await storageConfigsRepository.save(
      pool,
      { tenantId: victim, provider: 'aws_s3', config: configs[0]!.config },
      keyring,
    );
    await storageConfigsRepository.save(
      pool,
      { tenantId: thief, provider: 'aws_s3', config: { ...configs[0]!.config, secret_key: 'thief-own-secret' } },
      keyring,
    );
    await withClient(platformUrl, (client) =>
      client.query(
        'UPDATE tenant_storage_configs t SET sealed = v.sealed FROM tenant_storage_configs v WHERE v.tenant_id = $1 AND t.tenant_id = $2',
        [victim, thief],
      ),
    );
    const refused = await storageConfigsRepository.readDecrypted(pool, thief, keyring).catch((error: Error) => error);
    expect(refused).toBeInstanceOf(Error);
    expect((refused as Error).message).toMatch(
      /does not open: it was changed, or it belongs to another tenant or purpose/,
    );
    expect((refused as Error).message).not.toContain(NEWER.split(':')[1]!);
    expect((await storageConfigsRepository.readDecrypted(pool, victim, keyring))?.config).toEqual(configs[0]!.config);
    // Out of the way of the rotations below, which would report it as failed.
    await storageConfigsRepository.remove(pool, thief);
  });

  it('npm run keys:rotate: counts as JSON, exit 0 when done, exit 1 while a config is under a key it lacks; no key in its output', async () => {
    const NEWEST = 'newest:newest-key-99887766554433';
    const done = await runCli(`${NEWEST},${NEWER}`);
    expect(done.code, done.stderr).toBe(0);
    expect(JSON.parse(done.stdout)).toMatchObject({ currentKeyId: 'newest', remaining: 0, failed: [] });
    // `deeplens keys rotate` is the same rotation: nothing left to do.
    const again = await runCli(`${NEWEST},${NEWER}`, true);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ currentKeyId: 'newest', rotated: 0, remaining: 0, failed: [] });

    // A config under a key nobody has any more: reported, never silently skipped.
    const orphan = await insertTenant();
    await storageConfigsRepository.save(
      pool,
      { tenantId: orphan, provider: 'nfs', config: { mount_path: '/mnt/o' } },
      parseKeyring('lost:lost-key-000000000000000'),
    );
    const stuck = await runCli(NEWEST);
    expect(stuck.code).toBe(1);
    const report = JSON.parse(stuck.stdout);
    expect(report).toMatchObject({
      rotated: 0,
      remaining: 1,
      failed: [{ kind: 'storage_config', id: orphan, keyId: 'lost' }],
    });
    const stuckToo = await runCli(NEWEST, true);
    expect(stuckToo.code).not.toBe(0);
    expect(JSON.parse(stuckToo.stdout)).toMatchObject({
      remaining: 1,
      failed: [{ kind: 'storage_config', id: orphan, keyId: 'lost' }],
    });
    for (const output of [
      done.stdout,
      done.stderr,
      stuck.stdout,
      stuck.stderr,
      again.stdout,
      again.stderr,
      stuckToo.stdout,
      stuckToo.stderr,
    ]) {
      for (const key of ['newest-key-99887766554433', 'newer-key-00112233445566', 'lost-key-000000000000000'])
        expect(output).not.toContain(key);
    }
  });
});
