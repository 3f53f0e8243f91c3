import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { platformNames, withClient, withDatabase } from '@deeplens/shared';
import {
  freePort,
  httpApiClient,
  type ServiceProcess,
  startService,
  TEST_ADMIN_TOKEN,
  testEnv,
  uniqueName,
  waitForJob,
} from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The storage verifier killed with SIGKILL in the middle of a verification
 * (the probe ran, its verdict not yet recorded): after a restart the job is
 * taken up again (BullMQ's stalled-job check), finishes, and the status and
 * history agree: one history row for the job, verified, and no probe object
 * left behind in the tenant's storage. NFS storage (a local folder) keeps the
 * test about the crash, not about a provider.
 */
let env: Record<string, string>;
let base: string;
const services: ServiceProcess[] = [];
const folder = mkdtempSync(join(tmpdir(), 'deeplens-verify-crash-'));

beforeAll(async () => {
  const port = await freePort();
  env = testEnv({ HOST: '127.0.0.1', PORT: String(port) });
  base = `http://127.0.0.1:${port}`;
  services.push(await startService('api', env), await startService('provisioner', env));
});
afterAll(async () => {
  await Promise.all(services.map((service) => service.stop()));
  rmSync(folder, { recursive: true, force: true });
});

async function call(method: string, path: string, body?: unknown) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${TEST_ADMIN_TOKEN}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as any };
}

const finished = (jobId: string, timeoutMs = 60_000) => waitForJob({ call: httpApiClient(base) }, jobId, { timeoutMs });

describe('storage verifier killed mid-verification', () => {
  it('finishes the verification after a restart, with status and history consistent', async () => {
    const created = await call('POST', '/v1/tenants', { name: uniqueName('vcrash') });
    expect((await finished(created.body.jobId)).state).toBe('completed');
    const { tenantId } = created.body;

    const crashing = await startService('storage-verifier', { ...env, DEEPLENS_FAILPOINTS: 'verify.after-probe' });
    const put = await call('PUT', `/v1/tenants/${tenantId}/storage`, {
      provider: 'nfs',
      config: { mount_path: folder },
    });
    expect(put.status).toBe(202);
    const { jobId } = put.body;
    await crashing.exited;
    expect(crashing.child.signalCode).toBe('SIGKILL');
    expect(crashing.output.join('\n')).toMatch(/failpoint verify\.after-probe reached/);
    // Killed after probing, before recording: still verifying, the attempt open in the history.
    const during = (await call('GET', `/v1/tenants/${tenantId}/storage`)).body;
    expect(during.status).toBe('verifying');

    const healthy = await startService('storage-verifier', env);
    services.push(healthy);
    const job = await finished(jobId);
    expect(job).toMatchObject({ state: 'completed', error: null, result: { status: 'verified' } });

    const storage = (await call('GET', `/v1/tenants/${tenantId}/storage`)).body;
    expect(storage).toMatchObject({ provider: 'nfs', status: 'verified', lastError: null, version: 1 });
    const mine = storage.history.filter((entry: { jobId: string }) => entry.jobId === jobId);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ status: 'verified', error: null, configVersion: 1 });
    expect(mine[0].finishedAt).toEqual(expect.any(String));
    expect(storage.history.every((entry: { status: string }) => entry.status !== 'verifying')).toBe(true);

    const rows = await withClient(
      withDatabase(env.DATABASE_URL!, platformNames(env.DEEPLENS_DB_PREFIX!).platformDatabase),
      async (client) =>
        (await client.query('SELECT status FROM storage_verifications WHERE job_id = $1', [jobId])).rows,
    );
    expect(rows).toEqual([{ status: 'verified' }]);
    // Both probes (the killed one and the retry) cleaned up after themselves, in the tenant's own folder.
    expect(readdirSync(folder)).toEqual([tenantId]);
    const leftovers = readdirSync(join(folder, tenantId), { recursive: true }).filter(
      (entry) => !String(entry).endsWith('.deeplens-probe'),
    );
    expect(leftovers).toEqual([]);
  }, 150_000);
});
