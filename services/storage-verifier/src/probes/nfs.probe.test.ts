import { execFile } from 'node:child_process';
import { chmod, mkdir, readdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { makeTempDir } from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectFailure, expectVerified } from '../test-support/assertions.js';
import { probeStorage } from './index.js';
import type { ProbeResult } from './types.js';
import { testProbeOptions } from '../test-support/probe-options.js';

const options = testProbeOptions();
const NOBODY = 65534;

/**
 * The NFS probe works on the path where the export is mounted, so these tests
 * use local directories. "Read-only" needs care because the tests run as root,
 * which ignores permission bits: the read-only case runs the probe in a child
 * process as uid/gid 65534 (nobody) against a 0555 directory — what the
 * worker's service user meets on a share it may not write. When the tests do
 * not run as root, the probe simply runs in-process.
 */
describe('NFS probe (file system calls on the mount path)', () => {
  let tmp: { path: string; remove(): Promise<void> };

  beforeAll(async () => {
    tmp = await makeTempDir('nfs');
    await chmod(tmp.path, 0o755); // nobody must be able to reach the read-only folder inside
  });

  afterAll(async () => {
    await tmp?.remove();
  });

  it('verifies a writable directory and leaves nothing under .deeplens-probe/', async () => {
    const mount = join(tmp.path, 'writable');
    await mkdir(mount);
    expectVerified(await probeStorage('nfs', { mount_path: mount }, options));
    expect(await readdir(mount)).toEqual([options.tenantId]);
    expect(await readdir(join(mount, options.tenantId!, '.deeplens-probe'))).toEqual([]);
  });

  it('reports a missing mount path as not_writable, without creating it', async () => {
    const mount = join(tmp.path, 'not-mounted');
    const result = await probeStorage('nfs', { mount_path: mount }, options);
    expect(expectFailure(result, 'not_writable', false)).toBe(
      `the path ${mount} does not exist on the DeepLens worker: mount the share there or correct mount_path`,
    );
    expect(await readdir(tmp.path)).not.toContain('not-mounted');
  });

  it('reports a path under a regular file as not_writable (fails for root too)', async () => {
    const file = join(tmp.path, 'a-file');
    await writeFile(file, 'not a directory');
    const result = await probeStorage('nfs', { mount_path: join(file, 'share') }, options);
    expect(expectFailure(result, 'not_writable', false)).toContain('is not a directory');
  });

  it('reports a mount path that is a regular file as not_writable', async () => {
    const file = join(tmp.path, 'plain-file');
    await writeFile(file, 'x');
    expectFailure(await probeStorage('nfs', { mount_path: file }, options), 'not_writable', false);
  });

  it('reports a read-only directory (0555, probed as an unprivileged user) as not_writable', async () => {
    const mount = join(tmp.path, 'read-only');
    await mkdir(mount);
    await chmod(mount, 0o555);
    const result =
      process.getuid?.() === 0 ? await probeAsNobody(mount) : await probeStorage('nfs', { mount_path: mount }, options);
    expect(expectFailure(result, 'not_writable', false)).toContain('permission denied');
    expect(await readdir(mount)).toEqual([]);
  });
});

async function probeAsNobody(mountPath: string): Promise<ProbeResult> {
  const child = fileURLToPath(new URL('../test-support/nfs-probe-child.ts', import.meta.url));
  const tsx = createRequire(import.meta.url).resolve('tsx');
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--conditions=@deeplens/source', '--import', tsx, child, mountPath],
    {
      uid: NOBODY,
      gid: NOBODY,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp' },
      timeout: 30_000,
    },
  );
  return JSON.parse(stdout) as ProbeResult;
}
