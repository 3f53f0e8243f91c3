import { createHash } from 'node:crypto';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { randomUUID } from 'node:crypto';
import { platformNames, tenantLoginRoleName, withClient, withDatabase } from '@deeplens/shared';
import {
  enqueueJob,
  type MotoServer,
  type ServiceProcess,
  startMoto,
  startService,
  tenantLoginUri,
  testEnv,
  uniqueName,
  waitFor,
} from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../services/api/test/helpers.js';

/**
 * Backup and restore end to end: the API in-process, the provisioner and the
 * storage verifier as processes (backups go only to verified storage), the
 * tenant's storage on moto_server (S3 with SigV4 checks). The dump travels
 * pg_dump → S3 and back; rows are written and read as the tenant's own login
 * role, through RLS.
 */

const env = testEnv();
const names = platformNames(env.DEEPLENS_DB_PREFIX!);
const BUCKET = 'deeplens-backups';
let api: TestApi;
let provisioner: ServiceProcess;
let verifier: ServiceProcess;
let moto: MotoServer;
let s3: S3Client;
let storage: { provider: 'aws_s3'; config: Record<string, unknown> };

beforeAll(async () => {
  [api, provisioner, verifier, moto] = await Promise.all([
    startTestApi(env),
    startService('provisioner', env),
    startService('storage-verifier', env),
    startMoto(),
  ]);
  const user = await moto.createUser('deeplens-backups');
  s3 = new S3Client({
    region: 'us-east-1',
    endpoint: moto.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: user.accessKeyId, secretAccessKey: user.secretAccessKey },
  });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  storage = {
    provider: 'aws_s3',
    config: {
      access_key: user.accessKeyId,
      secret_key: user.secretAccessKey,
      region: 'us-east-1',
      bucket: BUCKET,
      endpoint: moto.endpoint,
      force_path_style: true,
    },
  };
});

afterAll(async () => {
  s3?.destroy();
  await Promise.all([api?.close(), provisioner?.stop(), verifier?.stop(), moto?.stop()]);
});

const loginEnv = {
  DATABASE_URL: env.DATABASE_URL!,
  DEEPLENS_DB_PREFIX: env.DEEPLENS_DB_PREFIX!,
  DEEPLENS_ENCRYPTION_KEY: env.DEEPLENS_ENCRYPTION_KEY!,
};
const asTenant = (tenantId: string, database: string) => tenantLoginUri(loginEnv, tenantId, database);
const adminQuery = async <T>(text: string, values: unknown[] = [], database?: string) =>
  withClient(
    database ? withDatabase(env.DATABASE_URL!, database) : env.DATABASE_URL!,
    async (client) => (await client.query(text, values)).rows as T[],
  );
const databasesLike = async (pattern: string) =>
  (
    await adminQuery<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1 ORDER BY datname', [
      pattern,
    ])
  ).map((row) => row.datname);

async function collections(database: string, tenantId: string): Promise<string[]> {
  return withClient(await asTenant(tenantId, database), async (client) => {
    await client.query('BEGIN');
    await client.query('SELECT set_tenant_context($1, true)', [tenantId]);
    const { rows } = await client.query<{ name: string }>('SELECT name FROM image_collections ORDER BY name');
    await client.query('COMMIT');
    return rows.map((row) => row.name);
  });
}

async function addCollection(database: string, tenantId: string, name: string) {
  await withClient(await asTenant(tenantId, database), async (client) => {
    await client.query('BEGIN');
    await client.query('SELECT set_tenant_context($1, true)', [tenantId]);
    await client.query('INSERT INTO image_collections (tenant_id, name) VALUES ($1, $2)', [tenantId, name]);
    await client.query('COMMIT');
  });
}

async function objectDigest(key: string) {
  const answer = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  const bytes = Buffer.from(await answer.Body!.transformToByteArray());
  return { sizeBytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
}

async function provisionTenant() {
  const created = await api.call('POST', '/v1/tenants', { body: { name: uniqueName('bk'), storage } });
  expect(created.statusCode, created.body).toBe(202);
  expect((await api.waitForJob(created.json().jobId)).state).toBe('completed');
  const tenant = (await api.call('GET', `/v1/tenants/${created.json().tenantId}`)).json();
  // Provisioning asks for the storage's verification; backups wait for its verdict.
  await waitFor(
    async () =>
      (await api.call('GET', `/v1/tenants/${tenant.id}/storage`)).json().status === 'verified' ? true : undefined,
    { timeoutMs: 60_000, intervalMs: 100, what: 'storage verified' },
  );
  return { id: tenant.id as string, name: tenant.name as string, database: tenant.databases[0].name as string };
}

async function backUp(tenantId: string) {
  const response = await api.call('POST', `/v1/tenants/${tenantId}/backups`);
  expect(response.statusCode, response.body).toBe(202);
  expect(response.headers.location).toBe(`/v1/jobs/${response.json().jobId}`);
  const job = await api.waitForJob(response.json().jobId);
  expect(job.state, JSON.stringify(job.error)).toBe('completed');
  const { items } = (await api.call('GET', `/v1/tenants/${tenantId}/backups`)).json();
  return items.find((item: { id: string }) => item.id === response.json().backupId);
}

describe('tenant backup and restore against S3', () => {
  it('backs up into the tenant bucket, restores into a new database, then swaps it in', async () => {
    const tenant = await provisionTenant();
    await addCollection(tenant.database, tenant.id, 'before-backup-1');
    await addCollection(tenant.database, tenant.id, 'before-backup-2');

    const backup = await backUp(tenant.id);
    expect(backup).toMatchObject({
      status: 'completed',
      storageKey: expect.stringMatching(/^backups\/\d{8}T\d{6}Z-[0-9a-f-]{36}\.dump$/),
    });
    expect(backup.storageKey).toContain(backup.id);
    // The object in the bucket is exactly what the record says.
    expect(await objectDigest(backup.storageKey)).toEqual({ sizeBytes: backup.sizeBytes, sha256: backup.sha256 });
    expect(backup.sizeBytes).toBeGreaterThan(0);

    await addCollection(tenant.database, tenant.id, 'after-backup');
    expect(await collections(tenant.database, tenant.id)).toEqual([
      'after-backup',
      'before-backup-1',
      'before-backup-2',
    ]);

    // Into a new database beside the tenant's: old rows there, the tenant's own untouched.
    const restored = await api.call('POST', `/v1/tenants/${tenant.id}/restore`, { body: { backupId: backup.id } });
    expect(restored.statusCode, restored.body).toBe(202);
    const restoreJob = await api.waitForJob(restored.json().jobId, 90_000);
    expect(restoreJob.state, JSON.stringify(restoreJob.error)).toBe('completed');
    const restoredDb = restoreJob.result.database as string;
    expect(restoredDb).toMatch(/_restore_[0-9a-f]{8}$/);
    expect(await collections(restoredDb, tenant.id)).toEqual(['before-backup-1', 'before-backup-2']);
    expect(await collections(tenant.database, tenant.id)).toEqual([
      'after-backup',
      'before-backup-1',
      'before-backup-2',
    ]);

    // With swap: the tenant's registered database now holds the backup; the old one is kept aside.
    const swapped = await api.call('POST', `/v1/tenants/${tenant.id}/restore`, {
      body: { backupId: backup.id, swap: true },
    });
    expect(swapped.statusCode, swapped.body).toBe(202);
    const swapJob = await api.waitForJob(swapped.json().jobId, 90_000);
    expect(swapJob.state, JSON.stringify(swapJob.error)).toBe('completed');
    expect(swapJob.result).toMatchObject({ database: tenant.database, swapped: true });
    expect(await collections(tenant.database, tenant.id)).toEqual(['before-backup-1', 'before-backup-2']);
    expect(
      await collections(swapJob.result.previousDatabase, tenant.id).catch((error: Error) => error.message),
    ).toMatch(/not currently accepting connections/);
    const registration = await withClient(
      withDatabase(env.DATABASE_URL!, names.platformDatabase),
      async (client) =>
        (
          await client.query(
            'SELECT database_name, restored_from_backup FROM tenant_databases WHERE tenant_id = $1 AND dropped_at IS NULL',
            [tenant.id],
          )
        ).rows,
    );
    expect(registration).toEqual([{ database_name: tenant.database, restored_from_backup: backup.id }]);
  });

  it('refuses to restore a backup whose object was altered: backup_corrupted, nothing restored', async () => {
    const tenant = await provisionTenant();
    await addCollection(tenant.database, tenant.id, 'kept');
    const backup = await backUp(tenant.id);
    await s3.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: backup.storageKey,
        Body: Buffer.from('not the dump that was recorded'),
      }),
    );

    const restore = await api.call('POST', `/v1/tenants/${tenant.id}/restore`, {
      body: { backupId: backup.id, swap: true },
    });
    const job = await api.waitForJob(restore.json().jobId);
    expect(job.state).toBe('failed');
    expect(job.error.code).toBe('backup_corrupted');
    expect(job.error.message).toContain('does not match its record');
    expect(await collections(tenant.database, tenant.id)).toEqual(['kept']);
  });

  it('answers 404 for an unknown backup and 409 for a tenant without storage that can be backed up', async () => {
    const tenant = await provisionTenant();
    const unknown = await api.call('POST', `/v1/tenants/${tenant.id}/restore`, {
      body: { backupId: '00000000-0000-4000-8000-000000000000' },
    });
    expect(unknown.statusCode).toBe(404);
    await api.call('PUT', `/v1/tenants/${tenant.id}/storage`, {
      body: { provider: 'smb', config: { share_path: '//server/share', username: 'u', password: 'secret-password' } },
    });
    const smb = await api.call('POST', `/v1/tenants/${tenant.id}/backups`);
    expect(smb.statusCode).toBe(409);
    expect(smb.json().error.message).toContain('not supported yet');
  });

  it("refuses a restore job naming another tenant's backup: not_found, nothing created, nothing swapped", async () => {
    const [victim, attacker] = [await provisionTenant(), await provisionTenant()];
    await addCollection(victim.database, victim.id, 'victim-secret');
    await addCollection(attacker.database, attacker.id, 'attacker-own');
    const victimBackup = await backUp(victim.id);
    // The API never pairs a tenant with another's backup; a forged record and job (Redis access) would.
    const restoreId = randomUUID();
    await adminQuery(
      "INSERT INTO backup_restores (id, backup_id, tenant_id, swap, status) VALUES ($1, $2, $3, true, 'pending')",
      [restoreId, victimBackup.id, attacker.id],
      names.platformDatabase,
    );
    const jobId = await enqueueJob(env, 'tenant.restore', {
      tenantId: attacker.id,
      backupId: victimBackup.id,
      restoreId,
      swap: true,
    });
    const job = await api.waitForJob(jobId);
    expect(job.state).toBe('failed');
    expect(job.error.code).toBe('not_found');
    expect(await databasesLike(`${attacker.database}_%restore_%`)).toEqual([]);
    expect(await collections(attacker.database, attacker.id)).toEqual(['attacker-own']);
    const [row] = await adminQuery<{ status: string; target_database: string | null }>(
      'SELECT status, target_database FROM backup_restores WHERE id = $1',
      [restoreId],
      names.platformDatabase,
    );
    expect(row).toEqual({ status: 'pending', target_database: null });
  });

  it("deprovisioning drops the restore and pre-restore databases and the tenant's login role", async () => {
    const tenant = await provisionTenant();
    await addCollection(tenant.database, tenant.id, 'kept');
    const backup = await backUp(tenant.id);
    for (const swap of [false, true]) {
      const restore = await api.call('POST', `/v1/tenants/${tenant.id}/restore`, {
        body: { backupId: backup.id, swap },
      });
      expect((await api.waitForJob(restore.json().jobId, 90_000)).state).toBe('completed');
    }
    const made = await databasesLike(`${tenant.database}_%restore_%`);
    expect(made.filter((name) => /_pre_restore_/.test(name))).toHaveLength(1);
    expect(made.filter((name) => /_restore_/.test(name) && !/_pre_restore_/.test(name))).toHaveLength(1);
    const role = tenantLoginRoleName(env.DEEPLENS_DB_PREFIX!, tenant.id);
    // The set-aside database is closed to the tenant's role too.
    const grants = await adminQuery<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE has_database_privilege($1, oid, 'CONNECT') AND datname LIKE $2 ORDER BY datname",
      [role, `${tenant.database}%`],
    );
    expect(grants.map((row) => row.datname)).toEqual(
      made
        .filter((name) => !/_pre_restore_/.test(name))
        .concat(tenant.database)
        .sort(),
    );

    const deleted = await api.call('DELETE', `/v1/tenants/${tenant.id}?confirm=${tenant.name}`);
    expect(deleted.statusCode, deleted.body).toBe(202);
    expect((await api.waitForJob(deleted.json().jobId)).state).toBe('completed');
    expect(await databasesLike(`${tenant.database}%`)).toEqual([]);
    expect(await adminQuery('SELECT 1 FROM pg_roles WHERE rolname = $1', [role])).toEqual([]);
    expect(
      await adminQuery('SELECT 1 FROM tenant_db_roles WHERE tenant_id = $1', [tenant.id], names.platformDatabase),
    ).toEqual([]);
  });
});
