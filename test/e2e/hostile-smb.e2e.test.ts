import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type HostileSmbServer,
  makeTempDir,
  type Platform,
  startHostileSmb,
  startPlatform,
  uniqueName,
} from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Issue #13: a tenant's SMB server answering NEGOTIATE with a 68-byte message
 * made the verifier throw inside a socket handler, and the process exited with
 * every other tenant's job. Here the verifier runs as its own process: the
 * hostile verification fails with provider_error, the process is still
 * running, and the next tenant's verification completes on it.
 */
let platform: Platform;
let hostile: HostileSmbServer;

beforeAll(async () => {
  [platform, hostile] = await Promise.all([
    startPlatform({ DEEPLENS_STORAGE_STEP_TIMEOUT_MS: '3000', DEEPLENS_STORAGE_TOTAL_TIMEOUT_MS: '9000' }),
    startHostileSmb('bad-ntlm'),
  ]);
});

afterAll(async () => {
  await Promise.all([platform?.stop(), hostile?.stop()]);
});

async function createTenant(): Promise<string> {
  const created = await platform.call('POST', '/v1/tenants', { name: uniqueName('hostile') });
  expect(created.status, created.text).toBe(202);
  expect((await platform.waitForJob(created.json().jobId)).state).toBe('completed');
  return created.json().tenantId;
}

async function putStorage(tenantId: string, provider: string, config: Record<string, unknown>): Promise<string> {
  const response = await platform.call('PUT', `/v1/tenants/${tenantId}/storage`, { provider, config });
  expect(response.status, response.text).toBe(202);
  return response.json().jobId;
}

describe('a hostile SMB server against the running verifier', () => {
  it('fails that verification with provider_error; the process stays up and verifies the next tenant', async () => {
    const attacker = await createTenant();
    const config = {
      share_path: '//127.0.0.1/data',
      username: 'u',
      password: 'hostile-e2e-password',
      port: hostile.port,
    };
    for (const attempt of [1, 2]) {
      const job = await platform.waitForJob(await putStorage(attacker, 'smb', config));
      expect(job, `attempt ${attempt}`).toMatchObject({
        state: 'failed',
        attempts: 1,
        error: { code: 'provider_error' },
      });
      expect(job.error.message).toMatch(
        /^the SMB server 127\.0\.0\.1:\d+ could not be used: the server sent an invalid SMB2 message/,
      );
    }
    expect(hostile.connections()).toBe(2);
    const verifier = platform.process('storage-verifier');
    expect(verifier.child.exitCode).toBeNull();
    expect(verifier.child.signalCode).toBeNull();

    const victim = await createTenant();
    const folder = await makeTempDir('hostile-smb-nfs');
    try {
      const job = await platform.waitForJob(await putStorage(victim, 'nfs', { mount_path: folder.path }));
      expect(job).toMatchObject({ state: 'completed', error: null, result: { status: 'verified' } });
      expect(await readdir(join(folder.path, victim, '.deeplens-probe'))).toEqual([]);
    } finally {
      await folder.remove();
    }
    expect(platform.logs()).not.toContain('hostile-e2e-password');
  }, 120_000);
});
