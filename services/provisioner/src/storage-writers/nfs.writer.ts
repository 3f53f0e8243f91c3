import { open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import {
  ensureFolders,
  NFS_CREATE_FLAGS,
  NFS_READ_FLAGS,
  tenantFolder,
  type NfsRules,
  type StorageConfigOf,
} from '@deeplens/shared';
import type { BackupStore } from './types.js';

/**
 * Files under the tenant's own folder of the mount, `<mount_path>/<tenant id>/`
 * (shared/src/egress/nfs-paths.ts: the mount confined to DEEPLENS_NFS_ROOTS and
 * checked again at each call, no link followed). Written to `<key>.partial`
 * and renamed, so a half-written dump never has the final name.
 */
export function nfsStore(config: StorageConfigOf<'nfs'>, tenantId: string, rules: NfsRules): BackupStore {
  const what = `the NFS folder of tenant ${tenantId}`;
  /** The folder of `key` (created when `create`) and the file name in it. */
  const locate = async (key: string, create: boolean) => {
    const segments = key.split('/');
    const name = segments.pop()!;
    if (!name || name === '.' || name === '..') throw new Error(`backup key ${key} names no file`);
    const base = await tenantFolder(config.mount_path, rules, tenantId, { create });
    return { folder: await ensureFolders(base, segments, what, { create }), name };
  };
  return {
    target: `mount ${config.mount_path}`,
    async upload(key, body) {
      const { folder, name } = await locate(key, true);
      const partial = join(folder, `${name}.partial`);
      // A retry's leftover (or a planted link: rm removes the link, not its target), then an exclusive create.
      await rm(partial, { force: true });
      const file = await open(partial, NFS_CREATE_FLAGS, 0o600);
      await pipeline(body, file.createWriteStream());
      await rename(partial, join(folder, name));
    },
    async download(key) {
      const { folder, name } = await locate(key, false);
      const file = await open(join(folder, name), NFS_READ_FLAGS);
      return file.createReadStream();
    },
    async remove(key) {
      const located = await locate(key, false).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return null;
        throw error;
      });
      if (located) await rm(join(located.folder, located.name), { force: true });
    },
    async close() {},
  };
}
