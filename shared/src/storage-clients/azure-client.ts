import { BlobServiceClient, type ContainerClient, type StoragePipelineOptions } from '@azure/storage-blob';
import type { GuardedAgents } from '../egress/guarded-connect.js';
import type { StorageConfigOf } from '../schemas/storage.js';
import { azureBlobEndpoint } from './endpoints.js';

/**
 * A container client whose pipeline sends every request on a guarded agent
 * (core-rest-pipeline's agent policy; a proxy from the environment does not
 * replace an agent already set) and follows no redirect: the pipeline's
 * redirect policy follows up to 20 by default, to wherever Location says.
 * Throws when the connection string does not parse.
 */
export function createAzureContainerClient(
  config: StorageConfigOf<'azure_blob'>,
  agents: GuardedAgents,
  options: { maxTries?: number } = {},
): ContainerClient {
  const secure = !azureBlobEndpoint(config.connection_string).endpoint.toLowerCase().startsWith('http:');
  // `agent` and `redirectOptions` are core-rest-pipeline options the storage pipeline passes through untyped.
  const pipelineOptions = {
    ...(options.maxTries ? { retryOptions: { maxTries: options.maxTries } } : {}),
    agent: secure ? agents.https : agents.http,
    redirectOptions: { maxRetries: 0 },
  } as StoragePipelineOptions;
  return BlobServiceClient.fromConnectionString(config.connection_string, pipelineOptions).getContainerClient(
    config.container,
  );
}
