import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { StorageConfigOf } from '@deeplens/shared';
import { freePort, SAMBA_USER, type SambaServer, startSamba } from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectFailure, expectNoSecrets, expectVerified } from '../test-support/assertions.js';
import { probeStorage } from './index.js';
import type { ProbeResult } from './types.js';
import { testProbeOptions } from '../test-support/probe-options.js';

const options = testProbeOptions();
const WRONG_PASSWORD = 'definitely-not-the-password-42';

// No skip: without smbd the fixture throws, telling to run .ci/install-test-deps.sh.
describe('SMB probe (SMB2 + NTLMv2) against a private Samba smbd', () => {
  let samba: SambaServer;
  let good: StorageConfigOf<'smb'>;
  const failures: ProbeResult[] = [];

  beforeAll(async () => {
    samba = await startSamba();
    good = { share_path: '//127.0.0.1/data', username: SAMBA_USER, password: samba.password, port: samba.port };
  });

  afterAll(async () => {
    await samba?.stop();
  });

  it('verifies a writable share and leaves nothing under .deeplens-probe/', async () => {
    expectVerified(await probeStorage('smb', good, options));
    expect(await readdir(join(samba.dataDir, '.deeplens-probe'))).toEqual([]);
  });

  it('verifies a folder inside the share, written with backslashes', async () => {
    expectVerified(
      await probeStorage('smb', { ...good, share_path: '\\\\127.0.0.1\\data\\sub', domain: 'WORKGROUP' }, options),
    );
    expect(await readdir(join(samba.dataDir, 'sub', '.deeplens-probe'))).toEqual([]);
  });

  it('reports a wrong password as invalid_credentials', async () => {
    const result = await probeStorage('smb', { ...good, password: WRONG_PASSWORD }, options);
    failures.push(result);
    expect(expectFailure(result, 'invalid_credentials', false)).toBe(
      `the share //127.0.0.1/data refused user "${SAMBA_USER}": wrong user name or password`,
    );
  });

  it('reports an unknown user as invalid_credentials', async () => {
    const result = await probeStorage('smb', { ...good, username: 'nosuchuser' }, options);
    failures.push(result);
    expectFailure(result, 'invalid_credentials', false);
  });

  it('reports a missing share as bucket_not_found', async () => {
    const result = await probeStorage('smb', { ...good, share_path: '//127.0.0.1/nosuchshare' }, options);
    failures.push(result);
    expect(expectFailure(result, 'bucket_not_found', false)).toBe(
      `the server 127.0.0.1:${samba.port} has no share named "nosuchshare"`,
    );
  });

  it('reports a missing folder inside the share as bucket_not_found', async () => {
    const result = await probeStorage('smb', { ...good, share_path: '//127.0.0.1/data/no/such/folder' }, options);
    failures.push(result);
    expect(expectFailure(result, 'bucket_not_found', false)).toBe(
      'the folder "no/such/folder" does not exist in the share //127.0.0.1/data',
    );
  });

  it('reports a read-only share as access_denied', async () => {
    const result = await probeStorage('smb', { ...good, share_path: '//127.0.0.1/readonly' }, options);
    failures.push(result);
    expect(expectFailure(result, 'access_denied', false)).toContain('STATUS_ACCESS_DENIED');
    expect(await readdir(samba.readonlyDir)).toEqual([]);
  });

  it('reports a closed port as endpoint_unreachable, retryable', async () => {
    const port = await freePort();
    const result = await probeStorage('smb', { ...good, port }, options);
    failures.push(result);
    expect(expectFailure(result, 'endpoint_unreachable', true)).toContain(`127.0.0.1:${port}`);
  });

  it('never puts the password in a failure message', () => {
    expect(failures.length).toBeGreaterThanOrEqual(6);
    for (const result of failures) expectNoSecrets(result.error!.message, [samba.password, WRONG_PASSWORD]);
  });
});
