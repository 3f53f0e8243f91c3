import {
  BlobServiceClient,
  ContainerSASPermissions,
  generateBlobSASQueryParameters,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import { type AzuriteServer, freePort, DEV_ACCOUNT, DEV_KEY, startAzurite } from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectFailure, expectNoSecrets, expectVerified } from '../test-support/assertions.js';
import { probeStorage } from './index.js';
import type { ProbeResult } from './types.js';
import { testProbeOptions } from '../test-support/probe-options.js';

const options = testProbeOptions();
const CONTAINER = 'deeplens-azure-probe';
const WRONG_KEY = Buffer.from('this is not the account key of devstoreaccount1!').toString('base64');

describe('Azure Blob probe against Azurite (SharedKey checked)', () => {
  let azurite: AzuriteServer;
  const failures: ProbeResult[] = [];

  beforeAll(async () => {
    azurite = await startAzurite();
    await BlobServiceClient.fromConnectionString(azurite.connectionString()).getContainerClient(CONTAINER).create();
  });

  afterAll(async () => {
    await azurite?.stop();
  });

  it('verifies a container with the right connection string and leaves nothing under .deeplens-probe/', async () => {
    expectVerified(
      await probeStorage(
        'azure_blob',
        { connection_string: azurite.connectionString(), container: CONTAINER },
        options,
      ),
    );
    const left: string[] = [];
    const container = BlobServiceClient.fromConnectionString(azurite.connectionString()).getContainerClient(CONTAINER);
    for await (const blob of container.listBlobsFlat({ prefix: '.deeplens-probe/' })) left.push(blob.name);
    expect(left).toEqual([]);
  });

  it('verifies with a SAS connection string that grants create/read/list/delete', async () => {
    const sas = generateBlobSASQueryParameters(
      {
        containerName: CONTAINER,
        permissions: ContainerSASPermissions.parse('rcwld'),
        expiresOn: new Date(Date.now() + 3_600_000),
      },
      new StorageSharedKeyCredential(DEV_ACCOUNT, DEV_KEY),
    ).toString();
    const connection = `BlobEndpoint=${azurite.blobEndpoint};SharedAccessSignature=${sas}`;
    expectVerified(await probeStorage('azure_blob', { connection_string: connection, container: CONTAINER }, options));
  });

  it('reports a SAS without delete permission as access_denied, after reaching the delete step', async () => {
    const sas = generateBlobSASQueryParameters(
      {
        containerName: CONTAINER,
        permissions: ContainerSASPermissions.parse('rcwl'),
        expiresOn: new Date(Date.now() + 3_600_000),
      },
      new StorageSharedKeyCredential(DEV_ACCOUNT, DEV_KEY),
    ).toString();
    const connection = `BlobEndpoint=${azurite.blobEndpoint};SharedAccessSignature=${sas}`;
    const result = await probeStorage('azure_blob', { connection_string: connection, container: CONTAINER }, options);
    failures.push(result);
    const message = expectFailure(result, 'access_denied', false);
    expect(result.steps.map((step) => step.step)).toEqual(['write', 'read', 'list', 'delete']);
    expect(message).toContain('Delete');
    expectNoSecrets(message, [connection, sas]);
  });

  it('reports a wrong account key as invalid_credentials', async () => {
    const result = await probeStorage(
      'azure_blob',
      { connection_string: azurite.connectionString(WRONG_KEY), container: CONTAINER },
      options,
    );
    failures.push(result);
    const message = expectFailure(result, 'invalid_credentials', false);
    expect(message).toContain(`storage account "${DEV_ACCOUNT}"`);
  });

  it('reports a missing container as bucket_not_found', async () => {
    const result = await probeStorage(
      'azure_blob',
      { connection_string: azurite.connectionString(), container: 'deeplens-missing' },
      options,
    );
    failures.push(result);
    expect(expectFailure(result, 'bucket_not_found', false)).toBe(
      `container "deeplens-missing" does not exist in storage account "${DEV_ACCOUNT}"`,
    );
  });

  it('reports a closed port as endpoint_unreachable, retryable', async () => {
    const port = await freePort();
    const connection = `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_KEY};BlobEndpoint=http://127.0.0.1:${port}/${DEV_ACCOUNT};`;
    const result = await probeStorage('azure_blob', { connection_string: connection, container: CONTAINER }, options);
    failures.push(result);
    expect(expectFailure(result, 'endpoint_unreachable', true)).toContain(`127.0.0.1:${port}`);
  });

  it('reports a malformed connection string as invalid_credentials without echoing it', async () => {
    const result = await probeStorage(
      'azure_blob',
      { connection_string: 'AccountKey=c2VjcmV0LXZhbHVlLXRoYXQtbXVzdC1ub3QtbGVhaw==', container: CONTAINER },
      options,
    );
    failures.push(result);
    expectNoSecrets(expectFailure(result, 'invalid_credentials', false), [
      'c2VjcmV0LXZhbHVlLXRoYXQtbXVzdC1ub3QtbGVhaw==',
    ]);
  });

  it('never puts the connection string or account key in a failure message', () => {
    expect(failures.length).toBeGreaterThanOrEqual(5);
    for (const result of failures)
      expectNoSecrets(result.error!.message, [
        DEV_KEY,
        WRONG_KEY,
        azurite.connectionString(),
        azurite.connectionString(WRONG_KEY),
      ]);
  });
});
