import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { StorageConfigOf } from '@deeplens/shared';
import { freePort, type MotoServer, startMoto, startSilentServer } from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectFailure, expectNoSecrets, expectVerified } from '../test-support/assertions.js';
import { probeStorage } from './index.js';
import type { ProbeResult } from './types.js';
import { testProbeOptions } from '../test-support/probe-options.js';

const options = testProbeOptions();
const BUCKET = 'deeplens-s3-probe';

describe('S3 probe against moto_server (SigV4 checked, IAM enforced)', () => {
  let moto: MotoServer;
  let good: StorageConfigOf<'aws_s3'>;
  const failures: ProbeResult[] = [];

  beforeAll(async () => {
    moto = await startMoto();
    const user = await moto.createUser('deeplens-tenant');
    good = {
      access_key: user.accessKeyId,
      secret_key: user.secretAccessKey,
      region: 'us-east-1',
      bucket: BUCKET,
      endpoint: moto.endpoint,
      force_path_style: true,
    };
    const client = new S3Client({
      region: 'us-east-1',
      endpoint: moto.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: user.accessKeyId, secretAccessKey: user.secretAccessKey },
    });
    await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
    client.destroy();
  });

  afterAll(async () => {
    await moto?.stop();
  });

  it('verifies a bucket with correct credentials and leaves nothing under .deeplens-probe/', async () => {
    const result = await probeStorage('aws_s3', good, options);
    expectVerified(result);
    const client = new S3Client({
      region: 'us-east-1',
      endpoint: moto.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: good.access_key, secretAccessKey: good.secret_key },
    });
    const left = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: '.deeplens-probe/' }));
    client.destroy();
    expect(left.Contents ?? []).toEqual([]);
  });

  it('reports an unknown access key as invalid_credentials', async () => {
    const result = await probeStorage('aws_s3', { ...good, access_key: 'AKIAUNKNOWNKEY000000' }, options);
    failures.push(result);
    const message = expectFailure(result, 'invalid_credentials', false);
    expect(message).toBe(`the access key was not recognised by the endpoint ${moto.endpoint}`);
    expect(result.steps).toEqual([expect.objectContaining({ step: 'write', ok: false })]);
  });

  it('reports a wrong secret key as invalid_credentials', async () => {
    const result = await probeStorage(
      'aws_s3',
      { ...good, secret_key: 'not-the-right-secret-key-0123456789abcdef' },
      options,
    );
    failures.push(result);
    const message = expectFailure(result, 'invalid_credentials', false);
    expect(message).toContain('secret key does not match');
  });

  it('reports a missing bucket as bucket_not_found', async () => {
    const result = await probeStorage('aws_s3', { ...good, bucket: 'deeplens-missing' }, options);
    failures.push(result);
    const message = expectFailure(result, 'bucket_not_found', false);
    expect(message).toBe(`bucket "deeplens-missing" does not exist at ${moto.endpoint}`);
  });

  it('reports a user without S3 permissions as access_denied', async () => {
    const user = await moto.createUser('deeplens-no-rights', false);
    const result = await probeStorage(
      'aws_s3',
      { ...good, access_key: user.accessKeyId, secret_key: user.secretAccessKey },
      options,
    );
    failures.push(result);
    const message = expectFailure(result, 'access_denied', false);
    expect(message).toContain('s3:PutObject');
    expectNoSecrets(message, [user.accessKeyId, user.secretAccessKey]);
  });

  it('reports a closed port as endpoint_unreachable, retryable', async () => {
    const port = await freePort();
    const result = await probeStorage('aws_s3', { ...good, endpoint: `http://127.0.0.1:${port}` }, options);
    failures.push(result);
    const message = expectFailure(result, 'endpoint_unreachable', true);
    expect(message).toContain(`http://127.0.0.1:${port}`);
  });

  it('stops a step that never answers at stepTimeoutMs as a retryable timeout', async () => {
    const silent = await startSilentServer();
    try {
      const result = await probeStorage(
        'aws_s3',
        { ...good, endpoint: `http://127.0.0.1:${silent.port}` },
        testProbeOptions({ stepTimeoutMs: 300, totalTimeoutMs: 5000 }),
      );
      failures.push(result);
      expectFailure(result, 'timeout', true);
      expect(result.totalMs).toBeLessThan(2000);
    } finally {
      await silent.stop();
    }
  });

  it('rejects an endpoint that is not a URL without calling anything', async () => {
    const result = await probeStorage('aws_s3', { ...good, endpoint: 'not a url' }, options);
    failures.push(result);
    expectFailure(result, 'endpoint_unreachable', false);
  });

  it('never puts the access key or secret key in a failure message', () => {
    expect(failures.length).toBeGreaterThanOrEqual(6);
    for (const result of failures)
      expectNoSecrets(result.error!.message, [
        good.access_key,
        good.secret_key,
        'not-the-right-secret-key-0123456789abcdef',
        'AKIAUNKNOWNKEY000000',
      ]);
  });
});
