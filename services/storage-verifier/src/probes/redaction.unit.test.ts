import { generateKeyPairSync } from 'node:crypto';
import { startEchoServer, startGcsFixture } from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNoSecrets } from '../test-support/assertions.js';
import { probeStorage } from './index.js';
import { redact } from './probe-runner.js';
import { classifySmbError } from './smb.probe.js';
import { testProbeOptions } from '../test-support/probe-options.js';

/**
 * No secret value and nothing a server said may appear in a probe's message,
 * whatever the endpoint answers. The live tests check each provider's real
 * failure paths; here a hostile server (allowed by the egress policy, as an
 * operator's endpoint would be) echoes the request and reflects the secrets
 * and a marker into its error bodies (S3/Azure XML, OAuth error_description,
 * JSON API errors), driving the real probes down their "unknown error" paths,
 * which once quoted the server. The SMB classifier (which never quotes the
 * server) is fed every status it knows with the password in the message.
 */

const options = testProbeOptions();
const privateKey = generateKeyPairSync('rsa', { modulusLength: 2048 })
  .privateKey.export({ type: 'pkcs8', format: 'pem' })
  .toString();

/** What an internal service might have answered: it must never reach a tenant. */
const MARKER = 'MARKER-internal-service-said-this-7f3a';

describe('probe messages never carry secrets nor quote the endpoint', () => {
  let reflected: string[] = [];
  let echo: { endpoint: string; stop(): Promise<void> };

  beforeAll(async () => {
    echo = await startEchoServer(() => reflected);
  });

  afterAll(async () => {
    await echo?.stop();
  });

  it('aws_s3: access key and secret key are never in the message, nor anything the endpoint wrote', async () => {
    const config = {
      access_key: 'AKIAECHOACCESSKEY123',
      secret_key: 'echo/secret+key/0123456789abcdefghijklmn',
      region: 'us-east-1',
      bucket: 'deeplens-echo',
      endpoint: echo.endpoint,
      force_path_style: true,
    };
    reflected = [MARKER, config.secret_key, config.access_key];
    const result = await probeStorage('aws_s3', config, options);
    expect(result.error?.code).toBe('provider_error');
    expectNoSecrets(result.error!.message, reflected);
    expect(result.error!.message).not.toContain('EchoError');
  });

  it('minio: access key and secret key are never in the message, nor anything the endpoint wrote', async () => {
    const config = {
      endpoint: echo.endpoint,
      access_key: 'MINIOECHOACCESSKEY12',
      secret_key: 'minio-echo-secret-key-0123456789abcdef',
      bucket: 'deeplens-echo',
      region: 'us-east-1',
    };
    reflected = [MARKER, config.secret_key, config.access_key];
    const result = await probeStorage('minio', config, options);
    expect(result.error?.code).toBe('provider_error');
    expectNoSecrets(result.error!.message, reflected);
    expect(result.error!.message).not.toContain('EchoError');
  });

  it('azure_blob: the connection string and its account key are never in the message, nor anything the endpoint wrote', async () => {
    const accountKey = Buffer.from('azure-echo-account-key-that-must-not-leak-0123456789').toString('base64');
    const config = {
      connection_string: `DefaultEndpointsProtocol=http;AccountName=echoaccount;AccountKey=${accountKey};BlobEndpoint=${echo.endpoint}/echoaccount;`,
      container: 'deeplens-echo',
    };
    reflected = [MARKER, config.connection_string, accountKey];
    const result = await probeStorage('azure_blob', config, options);
    expect(result.error?.code).toBe('provider_error');
    expectNoSecrets(result.error!.message, reflected);
    expect(result.error!.message).not.toContain('EchoError');
  });

  it('gcs: the service-account key and its private key are never in the message, nor the token endpoint error_description', async () => {
    const key = JSON.stringify({
      type: 'service_account',
      client_email: 'echo@deeplens-test.iam.gserviceaccount.com',
      private_key: privateKey,
      private_key_id: 'b1e2c3d4e5f60718293a4b5c6d7e8f9012345678',
      token_uri: `${echo.endpoint}/token`,
    });
    const config = {
      service_account_key: key,
      bucket: 'deeplens-echo',
      project_id: 'deeplens-test',
      api_endpoint: echo.endpoint,
    };
    reflected = [MARKER, key, privateKey, 'b1e2c3d4e5f60718293a4b5c6d7e8f9012345678'];
    const result = await probeStorage('gcs', config, options);
    expect(result.error?.code).toBe('provider_error');
    expectNoSecrets(result.error!.message, reflected);
    expect(result.error!.message).not.toContain('EchoError');
  });

  it('gcs: a JSON API error message is not quoted either (token granted by the fixture, API answered by the echo server)', async () => {
    const gcs = await startGcsFixture();
    try {
      const account = gcs.addServiceAccount('echo-api');
      const config = {
        service_account_key: account.keyJson,
        bucket: 'deeplens-echo',
        project_id: 'deeplens-test',
        api_endpoint: echo.endpoint,
      };
      reflected = [MARKER, account.keyJson];
      const result = await probeStorage('gcs', config, options);
      expect(result.error?.code).toBe('provider_error');
      expect(result.error?.message).toContain(`${echo.endpoint} answered HTTP 400 during the write step`);
      expectNoSecrets(result.error!.message, [...reflected, JSON.parse(account.keyJson).private_key]);
    } finally {
      await gcs.stop();
    }
  });

  it('smb: no classified message quotes the server, so the password cannot appear', () => {
    const password = 'smb-password-that-must-not-leak';
    const statuses = [
      'STATUS_LOGON_FAILURE',
      'STATUS_WRONG_PASSWORD',
      'STATUS_NO_SUCH_USER',
      'STATUS_PASSWORD_EXPIRED',
      'STATUS_ACCOUNT_LOCKED_OUT',
      'STATUS_ACCOUNT_DISABLED',
      'STATUS_BAD_NETWORK_NAME',
      'STATUS_OBJECT_PATH_NOT_FOUND',
      'STATUS_ACCESS_DENIED',
      'STATUS_DISK_FULL',
      'STATUS_MEDIA_WRITE_PROTECTED',
      'STATUS_NETWORK_NAME_DELETED',
      'STATUS_INTERNAL_ERROR',
      'STATUS_SOMETHING_NEW',
      'ECONNREFUSED',
      'ECONNRESET',
    ];
    const context = {
      share: '//127.0.0.1/data',
      shareRoot: '//127.0.0.1/data',
      server: '127.0.0.1:445',
      shareName: 'data',
      user: 'bob',
      folder: '',
    };
    for (const code of statuses) {
      for (const step of ['write', 'read', 'list', 'delete'] as const) {
        const error = Object.assign(new Error(`${code} while logging in with ${password}`), { code });
        const failure = classifySmbError(error, step, context);
        expect(failure.code).toBeTruthy();
        expectNoSecrets(failure.message, [password]);
      }
    }
  });

  it('redact() removes whole secrets, each long line of a multi-line secret, and JSON-escaped forms', () => {
    const message = `key=${privateKey} json=${JSON.stringify(privateKey)} line=${privateKey.split('\n')[3]}`;
    const cleaned = redact(message, [privateKey]);
    expectNoSecrets(cleaned, [privateKey]);
    expect(cleaned).toContain('[redacted]');
    expect(redact('nothing secret here', ['abc', undefined, ''])).toBe('nothing secret here');
  });
});
