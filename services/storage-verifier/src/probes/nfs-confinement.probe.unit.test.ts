import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir } from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectFailure, expectVerified } from '../test-support/assertions.js';
import { testProbeOptions } from '../test-support/probe-options.js';
import { probeStorage } from './index.js';

/**
 * Issue #13: `mount_path` named any folder of the worker's host. Two tenants'
 * folders a/ and b/ under one NFS root: b can reach a's files neither by `..`,
 * nor by naming a's mount path, nor through links, and nothing is written
 * outside the root.
 */
describe('NFS probe confinement (DEEPLENS_NFS_ROOTS, per-tenant folders, no links)', () => {
  let tmp: { path: string; remove(): Promise<void> };
  let root: string;
  const a = randomUUID();
  const b = randomUUID();
  const asTenant = (tenantId: string, extra = {}) => testProbeOptions({ nfsRoots: [root], tenantId, ...extra });
  const aFile = () => join(root, 'a', a, 'tenant-a-backup.dump');

  beforeAll(async () => {
    tmp = await makeTempDir('nfs-confine');
    root = join(tmp.path, 'root');
    await mkdir(join(root, 'a', a), { recursive: true });
    await mkdir(join(root, 'b'), { recursive: true });
    await writeFile(aFile(), 'tenant a data');
  });

  afterAll(async () => {
    await tmp?.remove();
  });

  it('refuses `<root>/b/../a` as endpoint_forbidden, writing nothing', async () => {
    const result = await probeStorage('nfs', { mount_path: `${join(root, 'b')}/../a` }, asTenant(b));
    expect(expectFailure(result, 'endpoint_forbidden', false)).toMatch(/must not contain "\.\." segments/);
    expect(await readdir(join(root, 'a'))).toEqual([a]);
  });

  it("b naming a's mount path writes only under <mount>/<b id>/; a's files are untouched", async () => {
    expectVerified(await probeStorage('nfs', { mount_path: join(root, 'a') }, asTenant(b)));
    expect((await readdir(join(root, 'a'))).sort()).toEqual([a, b].sort());
    expect(await readdir(join(root, 'a', a))).toEqual(['tenant-a-backup.dump']);
    expect(await readFile(aFile(), 'utf8')).toBe('tenant a data');
    expect(await readdir(join(root, 'a', b))).toEqual(['.deeplens-probe']);
  });

  it("refuses a mount path inside another tenant's folder", async () => {
    const result = await probeStorage('nfs', { mount_path: join(root, 'a', a) }, asTenant(b));
    expect(expectFailure(result, 'endpoint_forbidden', false)).toContain("inside another tenant's folder");
    expect(await readdir(join(root, 'a', a))).toEqual(['tenant-a-backup.dump']);
  });

  it('refuses a link inside the root that points to /etc, writing nothing there', async () => {
    await symlink('/etc', join(root, 'b', 'etc-link'));
    const result = await probeStorage('nfs', { mount_path: join(root, 'b', 'etc-link') }, asTenant(b));
    expect(expectFailure(result, 'endpoint_forbidden', false)).toMatch(
      /does not resolve inside the folders allowed for NFS mounts/,
    );
    expect(existsSync(join('/etc', b))).toBe(false);
  });

  it('refuses a path outside every root', async () => {
    const outside = join(tmp.path, 'outside');
    await mkdir(outside);
    const result = await probeStorage('nfs', { mount_path: outside }, asTenant(b));
    expectFailure(result, 'endpoint_forbidden', false);
    expect(await readdir(outside)).toEqual([]);
  });

  it('does not create a missing mount path', async () => {
    const missing = join(root, 'b', 'not-mounted', 'deeper');
    const result = await probeStorage('nfs', { mount_path: missing }, asTenant(b));
    expect(expectFailure(result, 'not_writable', false)).toContain('does not exist on the DeepLens worker');
    expect(existsSync(join(root, 'b', 'not-mounted'))).toBe(false);
  });

  it("refuses a tenant folder swapped for a link after the config was accepted (to a's folder)", async () => {
    const mount = join(root, 'b');
    await symlink(join(root, 'a', a), join(mount, b));
    try {
      const result = await probeStorage('nfs', { mount_path: mount }, asTenant(b));
      expect(expectFailure(result, 'endpoint_forbidden', false)).toContain(
        'is a symbolic link, which DeepLens does not follow',
      );
      expect(await readdir(join(root, 'a', a))).toEqual(['tenant-a-backup.dump']);
    } finally {
      await rm(join(mount, b));
    }
  });

  it('refuses a probe folder planted as a link by the share itself', async () => {
    const c = randomUUID();
    const mount = join(root, 'b');
    await mkdir(join(mount, c), { mode: 0o700 });
    const target = join(tmp.path, 'planted-target');
    await mkdir(target);
    await symlink(target, join(mount, c, '.deeplens-probe'));
    const result = await probeStorage('nfs', { mount_path: mount }, asTenant(c));
    expectFailure(result, 'endpoint_forbidden', false);
    expect(await readdir(target)).toEqual([]);
  });

  it('refuses NFS when no roots are configured, except in development', async () => {
    const mount = join(root, 'b');
    const refused = await probeStorage('nfs', { mount_path: mount }, asTenant(b, { nfsRoots: [] }));
    expect(expectFailure(refused, 'endpoint_forbidden', false)).toContain('no DEEPLENS_NFS_ROOTS configured');
    expectVerified(
      await probeStorage('nfs', { mount_path: mount }, asTenant(b, { nfsRoots: [], nfsUnconfined: true })),
    );
  });
});
