import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNoSecrets } from '../test-support/assertions.js';
import { startEchoServer } from '../test-support/echo-server.js';
import { probeStorage } from './index.js';
import { redact } from './probe-runner.js';
import { classifySmbError } from './smb.probe.js';
import { testProbeOptions } from '../test-support/probe-options.js';

/**
 * No secret value may appear in a probe's message, whatever the endpoint
 * answers. The live tests check each provider's real failure paths; here a
 * server that echoes the request and reflects the secrets into its error
 * messages drives the real probes down their "unknown error" paths (the only
 * ones that quote the server), and the SMB classifier (which never quotes the
 * server) is fed every status it knows with the password in the message.
 */

const options = testProbeOptions();
const privateKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

describe('probe messages never carry secrets', () => {
  let reflected: string[] = [];
  let echo: { endpoint: string; stop(): Promise<void> };

  beforeAll(async () => {
    echo = await startEchoServer(() => reflected);
  });

  afterAll(async () => {
    await echo?.stop();
  });

  it('aws_s3: access key and secret key are scrubbed even when the endpoint echoes them', async () => {
    const config = { access_key: 'AKIAECHOACCESSKEY123', secret_key: 'echo/secret+key/0123456789abcdefghijklmn', region: 'us-east-1', bucket: 'deeplens-echo', endpoint: echo.endpoint, force_path_style: true };
    reflected = [config.secret_key, config.access_key];
    const result = await probeStorage('aws_s3', config, options);
    expect(result.error?.code).toBe('provider_error');
    expect(result.error?.message, result.error?.message).toContain('[redacted]');
    expectNoSecrets(result.error!.message, reflected);
  });

  it('minio: access key and secret key are scrubbed even when the endpoint echoes them', async () => {
    const config = { endpoint: echo.endpoint, access_key: 'MINIOECHOACCESSKEY12', secret_key: 'minio-echo-secret-key-0123456789abcdef', bucket: 'deeplens-echo', region: 'us-east-1' };
    reflected = [config.secret_key, config.access_key];
    const result = await probeStorage('minio', config, options);
    expect(result.error?.code).toBe('provider_error');
    expect(result.error?.message, result.error?.message).toContain('[redacted]');
    expectNoSecrets(result.error!.message, reflected);
  });

  it('azure_blob: the connection string and its account key are scrubbed even when the endpoint echoes them', async () => {
    const accountKey = Buffer.from('azure-echo-account-key-that-must-not-leak-0123456789').toString('base64');
    const config = { connection_string: `DefaultEndpointsProtocol=http;AccountName=echoaccount;AccountKey=${accountKey};BlobEndpoint=${echo.endpoint}/echoaccount;`, container: 'deeplens-echo' };
    reflected = [config.connection_string, accountKey];
    const result = await probeStorage('azure_blob', config, options);
    expect(result.error?.code).toBe('provider_error');
    expect(result.error?.message, result.error?.message).toContain('[redacted]');
    expectNoSecrets(result.error!.message, reflected);
  });

  it('gcs: the service-account key and its private key are scrubbed even when the token endpoint echoes them', async () => {
    const key = JSON.stringify({ type: 'service_account', client_email: 'echo@deeplens-test.iam.gserviceaccount.com', private_key: privateKey, private_key_id: 'b1e2c3d4e5f60718293a4b5c6d7e8f9012345678', token_uri: `${echo.endpoint}/token` });
    const config = { service_account_key: key, bucket: 'deeplens-echo', project_id: 'deeplens-test', api_endpoint: echo.endpoint };
    reflected = [key, privateKey, 'b1e2c3d4e5f60718293a4b5c6d7e8f9012345678'];
    const result = await probeStorage('gcs', config, options);
    expect(result.error?.code).toBe('provider_error');
    expect(result.error?.message, result.error?.message).toContain('[redacted]');
    expectNoSecrets(result.error!.message, reflected);
  });

  it('smb: no classified message quotes the server, so the password cannot appear', () => {
    const password = 'smb-password-that-must-not-leak';
    const statuses = [
      'STATUS_LOGON_FAILURE', 'STATUS_WRONG_PASSWORD', 'STATUS_NO_SUCH_USER', 'STATUS_PASSWORD_EXPIRED', 'STATUS_ACCOUNT_LOCKED_OUT',
      'STATUS_ACCOUNT_DISABLED', 'STATUS_BAD_NETWORK_NAME', 'STATUS_OBJECT_PATH_NOT_FOUND', 'STATUS_ACCESS_DENIED', 'STATUS_DISK_FULL',
      'STATUS_MEDIA_WRITE_PROTECTED', 'STATUS_NETWORK_NAME_DELETED', 'STATUS_INTERNAL_ERROR', 'STATUS_SOMETHING_NEW', 'ECONNREFUSED', 'ECONNRESET',
    ];
    const context = { share: '//127.0.0.1/data', shareRoot: '//127.0.0.1/data', server: '127.0.0.1:445', shareName: 'data', user: 'bob', folder: '' };
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
