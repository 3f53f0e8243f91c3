import { guardedAgents, parseServiceAccountKey, type EgressPolicy, type StorageConfigOf } from '@deeplens/shared';
import { createGcsClient } from '@deeplens/shared/storage-clients';
import type { BackupStore } from './types.js';

/**
 * A media upload streamed in one request. The JWT client is built from the
 * key's own fields (never Google's credential detection, which for other key
 * types reads the files and fetches the URLs the key names): a key that is not
 * a service-account key is refused here, before anything is read or sent.
 */
export function gcsStore(config: StorageConfigOf<'gcs'>, egress: EgressPolicy): BackupStore {
  const key = parseServiceAccountKey(config.service_account_key);
  const agents = guardedAgents(egress);
  const client = createGcsClient(config, key, agents);
  return {
    target: `bucket "${config.bucket}" in project "${config.project_id}"`,
    upload: (name, body) => client.upload(name, body),
    download: (name) => client.download(name),
    remove: (name) => client.remove(name, { ignoreNotFound: true }),
    async close() {
      agents.destroy();
    },
  };
}
