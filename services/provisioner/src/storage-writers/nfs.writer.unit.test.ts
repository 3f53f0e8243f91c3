import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nfsStore } from './nfs.writer.js';

/**
 * The backup writer on NFS: every file goes to `<mount>/<tenant id>/`, the
 * mount is checked against the roots at each call, and no link planted in the
 * share (by its owner, who controls the NFS server) redirects a write or read.
 */
describe('NFS backup writer confinement', () => {
  let tmp: string;
  let root: string;
  const a = randomUUID();
  const b = randomUUID();
  const rules = () => ({ roots: [root], development: false });
  const body = (content: string) => Readable.from([Buffer.from(content)]);

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'deeplens-nfs-writer-'));
    root = join(tmp, 'root');
    await mkdir(join(root, 'a', a), { recursive: true });
    await writeFile(join(root, 'a', a, 'keep.dump'), 'tenant a data');
  });

  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it("writes and reads back under <mount>/<tenant id>/ only; a's files are untouched", async () => {
    const store = nfsStore({ mount_path: join(root, 'a') }, b, rules());
    await store.upload('backups/one.dump', body('tenant b dump'));
    expect(await text(await store.download('backups/one.dump'))).toBe('tenant b dump');
    await store.upload('backups/one.dump', body('written twice')); // a retry writes the same key
    expect(await readFile(join(root, 'a', b, 'backups', 'one.dump'), 'utf8')).toBe('written twice');
    expect((await readdir(join(root, 'a'))).sort()).toEqual([a, b].sort());
    expect(await readdir(join(root, 'a', a))).toEqual(['keep.dump']);
    await store.remove('backups/one.dump');
    expect(await readdir(join(root, 'a', b, 'backups'))).toEqual([]);
  });

  it('fails a stored mount path with ".." or outside the roots with endpoint_forbidden, writing nothing', async () => {
    for (const mount_path of [`${root}/b/../a/${a}`, join(tmp, 'elsewhere')]) {
      const store = nfsStore({ mount_path }, b, rules());
      await expect(store.upload('x.dump', body('x'))).rejects.toMatchObject({ code: 'endpoint_forbidden' });
    }
    expect(await readdir(join(root, 'a', a))).toEqual(['keep.dump']);
    expect(existsSync(join(tmp, 'elsewhere'))).toBe(false);
  });

  it('does not create a missing mount path', async () => {
    const store = nfsStore({ mount_path: join(root, 'not-mounted') }, b, rules());
    await expect(store.upload('x.dump', body('x'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(existsSync(join(root, 'not-mounted'))).toBe(false);
  });

  it('refuses a folder planted as a link and never writes through a planted file link', async () => {
    const c = randomUUID();
    const mount = join(root, 'c');
    const target = join(tmp, 'target');
    await mkdir(join(mount, c), { recursive: true });
    await mkdir(target);
    await writeFile(join(target, 'victim'), 'original');

    await symlink(target, join(mount, c, 'backups'));
    const store = nfsStore({ mount_path: mount }, c, rules());
    await expect(store.upload('backups/one.dump', body('x'))).rejects.toMatchObject({ code: 'endpoint_forbidden' });
    await expect(store.download('backups/victim')).rejects.toMatchObject({ code: 'endpoint_forbidden' });
    await rm(join(mount, c, 'backups'));

    // A link where the dump or its .partial file goes: replaced or removed, its target untouched.
    await symlink(join(target, 'victim'), join(mount, c, 'two.dump.partial'));
    await symlink(join(target, 'victim'), join(mount, c, 'two.dump'));
    await store.upload('two.dump', body('tenant c dump'));
    expect(await readFile(join(target, 'victim'), 'utf8')).toBe('original');
    expect(await readFile(join(mount, c, 'two.dump'), 'utf8')).toBe('tenant c dump');

    await symlink(join(target, 'victim'), join(mount, c, 'three.dump'));
    await expect(store.download('three.dump')).rejects.toMatchObject({ code: 'ELOOP' });
  });
});
