import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { AppError, type StorageConfigOf } from '@deeplens/shared';
import type { BackupStore } from './types.js';

/** Files under the mount: written to `<key>.partial` and renamed, so a half-written dump never has the final name. */
export function nfsStore(config: StorageConfigOf<'nfs'>): BackupStore {
  const root = resolve(config.mount_path);
  const pathOf = (key: string) => {
    const path = resolve(join(root, key));
    if (!path.startsWith(`${root}/`)) throw new AppError('validation_failed', `backup key ${key} leaves the mount`);
    return path;
  };
  return {
    target: `mount ${root}`,
    async upload(key, body) {
      const path = pathOf(key);
      await mkdir(dirname(path), { recursive: true });
      await pipeline(body, createWriteStream(`${path}.partial`));
      await rename(`${path}.partial`, path);
    },
    async download(key) {
      return createReadStream(pathOf(key));
    },
    async remove(key) {
      await rm(pathOf(key), { force: true });
    },
    async close() {},
  };
}
