import { guardedAgents, type EgressPolicy, type StorageConfigOf } from '@deeplens/shared';
import { createAzureContainerClient } from '@deeplens/shared/storage-clients';
import type { Readable } from 'node:stream';
import type { BackupStore } from './types.js';

/** Block blob upload from a stream: 4 MiB blocks, two in flight. */
export function azureBlobStore(config: StorageConfigOf<'azure_blob'>, egress: EgressPolicy): BackupStore {
  const agents = guardedAgents(egress);
  const container = createAzureContainerClient(config, agents);
  return {
    target: `container "${config.container}"`,
    async upload(key, body) {
      await container.getBlockBlobClient(key).uploadStream(body, 4 * 1024 * 1024, 2, {
        blobHTTPHeaders: { blobContentType: 'application/octet-stream' },
      });
    },
    async download(key) {
      const answer = await container.getBlobClient(key).download();
      if (!answer.readableStreamBody) throw new Error(`blob ${key} has no body`);
      return answer.readableStreamBody as Readable;
    },
    async remove(key) {
      await container.getBlobClient(key).deleteIfExists();
    },
    async close() {
      agents.destroy();
    },
  };
}
