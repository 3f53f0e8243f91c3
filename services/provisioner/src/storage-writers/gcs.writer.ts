import { Storage } from '@google-cloud/storage';
import type { StorageConfigOf } from '@deeplens/shared';
import { pipeline } from 'node:stream/promises';
import type { BackupStore } from './types.js';

/** Resumable upload through createWriteStream; the library sends it in chunks, never the whole dump at once. */
export function gcsStore(config: StorageConfigOf<'gcs'>): BackupStore {
  const storage = new Storage({
    projectId: config.project_id,
    credentials: JSON.parse(config.service_account_key) as Record<string, string>,
    ...(config.api_endpoint ? { apiEndpoint: config.api_endpoint.replace(/\/+$/, ''), useAuthWithCustomEndpoint: true } : {}),
  });
  const bucket = storage.bucket(config.bucket);
  return {
    target: `bucket "${config.bucket}" in project "${config.project_id}"`,
    async upload(key, body) {
      await pipeline(body, bucket.file(key).createWriteStream({ resumable: true, contentType: 'application/octet-stream' }));
    },
    async download(key) {
      return bucket.file(key).createReadStream({ validation: false });
    },
    async remove(key) {
      await bucket.file(key).delete({ ignoreNotFound: true });
    },
    async close() {},
  };
}
