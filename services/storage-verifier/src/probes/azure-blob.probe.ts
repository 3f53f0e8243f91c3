import type { ContainerClient } from '@azure/storage-blob';
import {
  azureBlobEndpoint,
  guardedAgents,
  parseConnectionString,
  type GuardedAgents,
  type StorageConfigOf,
} from '@deeplens/shared';
import { createAzureContainerClient } from '@deeplens/shared/storage-clients';
import {
  classifyNetworkError,
  errorDetail,
  failure,
  PROBE_PREFIX,
  ProbeFailureError,
  providerFailure,
  runProbe,
  type ProbeOperations,
  type StepName,
} from './probe-runner.js';
import type { ProbeFailure, ProbeOptions, ProbeResult } from './types.js';

/** Probes an Azure Blob container reached through the tenant's connection string (account key or SAS). */
export function probeAzureBlob(config: StorageConfigOf<'azure_blob'>, options: ProbeOptions): Promise<ProbeResult> {
  const account = azureBlobEndpoint(config.connection_string);
  const context: AzureContext = { container: config.container, ...account };
  const accountKey = parseConnectionString(config.connection_string).get('accountkey');
  const sas = parseConnectionString(config.connection_string).get('sharedaccesssignature');
  return runProbe(
    {
      target: `container "${config.container}" in storage account "${account.account}"`,
      secrets: [config.connection_string, accountKey, sas],
      open: () => {
        const agents = guardedAgents(options.egress);
        let container: ContainerClient;
        try {
          // One attempt: the job decides about retries from the classified error.
          container = createAzureContainerClient(config, agents, { maxTries: 1 });
        } catch {
          agents.destroy();
          throw new ProbeFailureError(
            failure(
              'invalid_credentials',
              'the connection string is not a valid Azure Storage connection string: it needs AccountName with AccountKey (or a SharedAccessSignature) and a BlobEndpoint or EndpointSuffix',
            ),
          );
        }
        return azureOperations(container, agents);
      },
      classify: (error, step) => classifyAzureError(error, step, context),
    },
    options,
  );
}

function azureOperations(container: ContainerClient, agents: GuardedAgents): ProbeOperations {
  return {
    async write(key, body, abortSignal) {
      await container.getBlockBlobClient(key).upload(body, body.length, {
        abortSignal,
        blobHTTPHeaders: { blobContentType: 'application/octet-stream' },
      });
    },
    async read(key, abortSignal) {
      return container.getBlockBlobClient(key).downloadToBuffer(0, undefined, { abortSignal });
    },
    async list(key, abortSignal) {
      // The probe object's name as prefix and a page of one: never a walk of the container.
      const page = await container.listBlobsFlat({ prefix: key, abortSignal }).byPage({ maxPageSize: 1 }).next();
      return !page.done && page.value.segment.blobItems.some((item) => item.name === key);
    },
    async remove(key, abortSignal) {
      await container.getBlockBlobClient(key).delete({ abortSignal });
    },
    close() {
      agents.destroy();
    },
  };
}

interface AzureContext {
  container: string;
  account: string;
  endpoint: string;
  usesSas: boolean;
}

const AZURE_PERMISSION: Record<StepName, string> = {
  write: 'Write/Create',
  read: 'Read',
  list: 'List',
  delete: 'Delete',
};

/** Azure Storage error codes (x-ms-error-code) and HTTP statuses → probe failures. */
function classifyAzureError(error: unknown, step: StepName, context: AzureContext): ProbeFailure {
  if (error instanceof ProbeFailureError) return error.failure;
  const network = classifyNetworkError(error, context.endpoint);
  if (network) return network;
  const e = (error ?? {}) as { code?: string; statusCode?: number; details?: { errorCode?: string } };
  const code = e.details?.errorCode ?? e.code ?? 'UnknownError';
  const status = e.statusCode;
  const account = `storage account "${context.account}" at ${context.endpoint}`;
  const credential = context.usesSas ? 'shared access signature' : 'account key';
  switch (code) {
    case 'AuthenticationFailed':
    case 'InvalidAuthenticationInfo':
    case 'NoAuthenticationInformation':
      return failure(
        'invalid_credentials',
        `${account} did not accept the ${credential} in the connection string: copy a current connection string from the storage account's access keys`,
      );
    case 'ContainerNotFound':
      return failure(
        'bucket_not_found',
        `container "${context.container}" does not exist in storage account "${context.account}"`,
      );
    case 'ContainerBeingDeleted':
    case 'ContainerDisabled':
      return failure(
        'bucket_not_found',
        `container "${context.container}" in storage account "${context.account}" is being deleted or is disabled`,
      );
    case 'AccountIsDisabled':
      return failure('access_denied', `${account} is disabled`);
    case 'AuthorizationFailure':
      // Azure answers a firewall/network-rule refusal with "This request is not authorized...". Azurite
      // (and some Azure Stack builds) answer a bad signature with this code and the AuthenticationFailed
      // text; on the first request that can only mean the key or SAS is wrong.
      if (step === 'write' && /failed to authenticate/i.test(errorDetail(error))) {
        return failure(
          'invalid_credentials',
          `${account} did not accept the ${credential} in the connection string: copy a current connection string from the storage account's access keys`,
        );
      }
      return accessDenied(step, context, code);
    case 'AuthorizationPermissionMismatch':
    case 'AuthorizationResourceTypeMismatch':
    case 'AuthorizationServiceMismatch':
    case 'AuthorizationProtocolMismatch':
    case 'AuthorizationSourceIPMismatch':
    case 'InsufficientAccountPermissions':
      return accessDenied(step, context, code);
    case 'BlobNotFound':
      return providerFailure(
        `the probe blob written to container "${context.container}" could not be read back (BlobNotFound)`,
      );
    case 'ServerBusy':
    case 'InternalError':
    case 'OperationTimedOut':
      return providerFailure(`${account} is overloaded or failing (${code}); try again later`, status ?? 503);
    default:
      break;
  }
  if (status === 403) return accessDenied(step, context, 'HTTP 403');
  if (status === 404 && step === 'write')
    return failure(
      'bucket_not_found',
      `container "${context.container}" does not exist in storage account "${context.account}"`,
    );
  // The service's own words (its error code and message) stay out of the message: the endpoint may be any server.
  const answered = `${account} answered${status ? ` HTTP ${status}` : ' with an error'} during the ${step} step`;
  if (status !== undefined && status >= 500) return providerFailure(`${answered}; try again later`, status);
  if (status !== undefined && status >= 300 && status < 400)
    return providerFailure(
      `${answered}: a redirect, which DeepLens does not follow; put the address the service redirects to in BlobEndpoint`,
      status,
    );
  return providerFailure(
    `${answered}: check that BlobEndpoint is an Azure Blob service and that the container name is right`,
    status,
  );
}

function accessDenied(step: StepName, context: AzureContext, code: string): ProbeFailure {
  return failure(
    'access_denied',
    `the connection string's ${context.usesSas ? 'shared access signature' : 'credentials'} may not ${step} blobs under "${PROBE_PREFIX}" in container "${context.container}" (${code}): grant ${AZURE_PERMISSION[step]} permission, and allow DeepLens through the account's firewall`,
  );
}
