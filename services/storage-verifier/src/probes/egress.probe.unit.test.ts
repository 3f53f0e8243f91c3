import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { EgressPolicy, type StorageConfigOf } from '@deeplens/shared';
import { startCountingListener, startGcsFixture, startRedirectingServer } from '@deeplens/shared/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectFailure } from '../test-support/assertions.js';
import { testProbeOptions } from '../test-support/probe-options.js';
import { probeStorage } from './index.js';

/**
 * The egress guard under every storage SDK. A strict policy (nothing allowed,
 * as in production without DEEPLENS_EGRESS_ALLOW) and endpoints named
 * `localhost`, which resolves to loopback: each probe fails endpoint_forbidden,
 * not retried, and the listener standing in for an internal service never
 * sees a connection. With loopback allowed, a server that redirects elsewhere
 * is not followed.
 */

const strict = testProbeOptions({ egress: new EgressPolicy({ allow: [] }) });
const privateKey = generateKeyPairSync('rsa', { modulusLength: 2048 })
  .privateKey.export({ type: 'pkcs8', format: 'pem' })
  .toString();
const serviceAccount = (tokenUri: string) =>
  JSON.stringify({
    type: 'service_account',
    client_email: 'egress@deeplens-test.iam.gserviceaccount.com',
    private_key: privateKey,
    token_uri: tokenUri,
  });

let internal: Awaited<ReturnType<typeof startCountingListener>>;
beforeAll(async () => {
  internal = await startCountingListener();
});
afterAll(async () => {
  await internal?.stop();
});
afterEach(() => {
  expect(internal.connections(), 'the internal listener must never be reached').toBe(0);
});

describe('a storage config whose host name resolves to a refused address', () => {
  const target = (port: number) => `http://localhost:${port}`;
  const cases: Array<[string, string, (port: number) => Record<string, unknown>]> = [
    [
      'aws_s3',
      'endpoint',
      (port) => ({
        access_key: 'AKIAEGRESS0000000001',
        secret_key: 'egress-secret',
        region: 'us-east-1',
        bucket: 'deeplens-egress',
        endpoint: target(port),
        force_path_style: true,
      }),
    ],
    [
      'minio',
      'endpoint',
      (port) => ({
        endpoint: target(port),
        access_key: 'egress-access',
        secret_key: 'egress-secret',
        bucket: 'deeplens-egress',
      }),
    ],
    [
      'azure_blob',
      'BlobEndpoint',
      (port) => ({
        connection_string: `DefaultEndpointsProtocol=http;AccountName=egress;AccountKey=${Buffer.from('k').toString('base64')};BlobEndpoint=${target(port)}/egress;`,
        container: 'deeplens-egress',
      }),
    ],
    [
      'gcs',
      'token_uri',
      (port) => ({
        service_account_key: serviceAccount(`${target(port)}/token`),
        bucket: 'deeplens-egress',
        project_id: 'p',
      }),
    ],
  ];

  it.each(cases)(
    '%s (%s): endpoint_forbidden, not retried, no connection attempted',
    async (provider, _field, config) => {
      const result = await probeStorage(
        provider as 'aws_s3',
        config(internal.port) as StorageConfigOf<'aws_s3'>,
        strict,
      );
      const message = expectFailure(result, 'endpoint_forbidden', false);
      expect(message).toContain(`localhost:${internal.port}`);
      expect(message).toContain('DEEPLENS_EGRESS_ALLOW');
    },
  );

  it('gcs (api_endpoint): the token is granted by an allowed endpoint, the JSON API is refused before connecting', async () => {
    const gcs = await startGcsFixture();
    try {
      const account = gcs.addServiceAccount('egress');
      gcs.addBucket('deeplens-egress', [account.email]);
      const options = testProbeOptions({ egress: new EgressPolicy({ allow: [new URL(gcs.endpoint).host] }) });
      const config = {
        service_account_key: account.keyJson,
        bucket: 'deeplens-egress',
        project_id: 'p',
        api_endpoint: target(internal.port),
      };
      expectFailure(await probeStorage('gcs', config, options), 'endpoint_forbidden', false);
      expect(gcs.requests.map((request) => request.path)).toEqual(['/token']);
    } finally {
      await gcs.stop();
    }
  });
});

describe('an external_account GCS key (credential_source.file, token_url) already stored', () => {
  it('is refused by the probe without reading the file or calling the token URL', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'deeplens-environ-'));
    try {
      const environ = join(dir, 'environ');
      await writeFile(environ, 'DATABASE_URL=postgres://marker-superuser:marker-password@db/postgres\0');
      const key = JSON.stringify({
        type: 'external_account',
        audience: '//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x',
        subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
        token_url: `http://127.0.0.1:${internal.port}/token`,
        credential_source: { file: environ },
      });
      const loose = testProbeOptions(); // loopback allowed: only the key type can stop it
      const result = await probeStorage(
        'gcs',
        {
          service_account_key: key,
          bucket: 'deeplens-egress',
          project_id: 'p',
          api_endpoint: `http://127.0.0.1:${internal.port}`,
        },
        loose,
      );
      const message = expectFailure(result, 'invalid_credentials', false);
      expect(message).toContain('"external_account"');
      expect(message).not.toContain('marker');
      expect(internal.received()).toBe('');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('redirects are never followed', () => {
  let redirector: Awaited<ReturnType<typeof startRedirectingServer>>;
  const allowed = testProbeOptions();
  beforeAll(async () => {
    redirector = await startRedirectingServer(`http://127.0.0.1:${internal?.port ?? 0}`);
  });
  afterAll(async () => {
    await redirector?.stop();
  });

  it('aws_s3: a 307 is a provider_error naming the redirect, the target is not contacted', async () => {
    const config = {
      access_key: 'AKIAEGRESS0000000001',
      secret_key: 'egress-secret',
      region: 'us-east-1',
      bucket: 'deeplens-egress',
      endpoint: redirector.endpoint,
      force_path_style: true,
    };
    const result = await probeStorage('aws_s3', config, allowed);
    expect(result.error?.code).toBe('provider_error');
  });

  it('azure_blob: the pipeline does not follow the redirect', async () => {
    const config = {
      connection_string: `DefaultEndpointsProtocol=http;AccountName=egress;AccountKey=${Buffer.from('k').toString('base64')};BlobEndpoint=${redirector.endpoint}/egress;`,
      container: 'deeplens-egress',
    };
    const result = await probeStorage('azure_blob', config, allowed);
    expect(result.ok).toBe(false);
    expect(result.error?.message).toContain('redirect');
  });

  it('gcs: neither the token grant nor the JSON API follows a redirect', async () => {
    const config = {
      service_account_key: serviceAccount(`${redirector.endpoint}/token`),
      bucket: 'deeplens-egress',
      project_id: 'p',
      api_endpoint: redirector.endpoint,
    };
    const result = await probeStorage('gcs', config, allowed);
    expect(result.ok).toBe(false);
    expect(result.error?.message).toContain('redirect');
  });
});
