import type { StorageConfigOf } from '@deeplens/shared';
import { freePort, type MotoServer, startMoto } from '@deeplens/shared/testing';
import { Client } from 'minio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectFailure, expectNoSecrets, expectVerified } from '../test-support/assertions.js';
import { probeStorage } from './index.js';
import type { ProbeResult } from './types.js';
import { testProbeOptions } from '../test-support/probe-options.js';

const options = testProbeOptions();
const BUCKET = 'deeplens-minio-probe';

describe('MinIO probe (minio client) against moto_server (S3 protocol, SigV4 checked)', () => {
  let moto: MotoServer;
  let good: StorageConfigOf<'minio'>;
  let admin: Client;
  const failures: ProbeResult[] = [];

  const remaining = async () => {
    const names: string[] = [];
    for await (const item of admin.listObjectsV2(BUCKET, '.deeplens-probe/', true)) names.push(String(item.name));
    return names;
  };

  beforeAll(async () => {
    moto = await startMoto();
    const user = await moto.createUser('deeplens-minio-tenant');
    good = {
      endpoint: moto.endpoint,
      access_key: user.accessKeyId,
      secret_key: user.secretAccessKey,
      bucket: BUCKET,
      region: 'us-east-1',
    };
    admin = new Client({
      endPoint: '127.0.0.1',
      port: moto.port,
      useSSL: false,
      accessKey: user.accessKeyId,
      secretKey: user.secretAccessKey,
      region: 'us-east-1',
    });
    await admin.makeBucket(BUCKET, 'us-east-1');
  });

  afterAll(async () => {
    await moto?.stop();
  });

  it('verifies a bucket with correct credentials and leaves nothing under .deeplens-probe/', async () => {
    expectVerified(await probeStorage('minio', good, options));
    expect(await remaining()).toEqual([]);
  });

  it('verifies without a configured region (the client asks the endpoint for the bucket location)', async () => {
    const { region: _region, ...withoutRegion } = good;
    expectVerified(await probeStorage('minio', withoutRegion, options));
  });

  it('takes `secure: false` with a scheme-less endpoint', async () => {
    expectVerified(
      await probeStorage('minio', { ...good, endpoint: `127.0.0.1:${moto.port}`, secure: false }, options),
    );
    expect(await remaining()).toEqual([]);
  });

  it('reports an unknown access key as invalid_credentials', async () => {
    const result = await probeStorage('minio', { ...good, access_key: 'AKIAUNKNOWNMINIO0000' }, options);
    failures.push(result);
    expect(expectFailure(result, 'invalid_credentials', false)).toBe(
      `the access key was not recognised by the endpoint ${moto.endpoint}`,
    );
  });

  it('reports a wrong secret key as invalid_credentials', async () => {
    const result = await probeStorage(
      'minio',
      { ...good, secret_key: 'wrong-minio-secret-key-abcdefghijklmnop' },
      options,
    );
    failures.push(result);
    expect(expectFailure(result, 'invalid_credentials', false)).toContain('secret key does not match');
  });

  it('reports a missing bucket as bucket_not_found', async () => {
    const result = await probeStorage('minio', { ...good, bucket: 'deeplens-nope' }, options);
    failures.push(result);
    expect(expectFailure(result, 'bucket_not_found', false)).toBe(
      `bucket "deeplens-nope" does not exist at ${moto.endpoint}`,
    );
  });

  it('reports a user without S3 permissions as access_denied', async () => {
    const user = await moto.createUser('deeplens-minio-no-rights', false);
    const result = await probeStorage(
      'minio',
      { ...good, access_key: user.accessKeyId, secret_key: user.secretAccessKey },
      options,
    );
    failures.push(result);
    expectNoSecrets(expectFailure(result, 'access_denied', false), [user.accessKeyId, user.secretAccessKey]);
  });

  it('reports a closed port as endpoint_unreachable, retryable', async () => {
    const port = await freePort();
    const result = await probeStorage('minio', { ...good, endpoint: `http://127.0.0.1:${port}` }, options);
    failures.push(result);
    expect(expectFailure(result, 'endpoint_unreachable', true)).toContain(`http://127.0.0.1:${port}`);
  });

  it('reports TLS spoken to a plain-HTTP endpoint as tls_error, retryable', async () => {
    const result = await probeStorage('minio', { ...good, endpoint: `https://127.0.0.1:${moto.port}` }, options);
    failures.push(result);
    expectFailure(result, 'tls_error', true);
  });

  it('never puts the access key or secret key in a failure message', () => {
    expect(failures.length).toBeGreaterThanOrEqual(6);
    for (const result of failures)
      expectNoSecrets(result.error!.message, [
        good.access_key,
        good.secret_key,
        'wrong-minio-secret-key-abcdefghijklmnop',
        'AKIAUNKNOWNMINIO0000',
      ]);
  });
});
