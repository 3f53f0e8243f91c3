import type { StorageConfigOf } from '@deeplens/shared';
import { freePort, type GcsFixture, type ServiceAccount, startGcsFixture } from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectFailure, expectNoSecrets, expectVerified } from '../test-support/assertions.js';
import { probeStorage } from './index.js';
import type { ProbeResult } from './types.js';
import { testProbeOptions } from '../test-support/probe-options.js';

const options = testProbeOptions();
const BUCKET = 'deeplens-gcs-probe';

describe('GCS probe (google-auth-library JWT grant + JSON API through the egress guard) against an HTTP fixture', () => {
  let gcs: GcsFixture;
  let tenant: ServiceAccount;
  let good: StorageConfigOf<'gcs'>;
  const keys: string[] = [];
  const failures: ProbeResult[] = [];

  beforeAll(async () => {
    gcs = await startGcsFixture();
    tenant = gcs.addServiceAccount('tenant');
    keys.push(tenant.keyJson);
    gcs.addBucket(BUCKET, [tenant.email]);
    good = {
      service_account_key: tenant.keyJson,
      bucket: BUCKET,
      project_id: 'deeplens-test',
      api_endpoint: gcs.endpoint,
    };
  });

  afterAll(async () => {
    await gcs?.stop();
  });

  it('verifies a bucket: token grant, upload, download, one-item list, delete; nothing left behind', async () => {
    gcs.requests.length = 0;
    expectVerified(await probeStorage('gcs', good, options));
    expect(gcs.objects(BUCKET)).toEqual([]);
    const calls = gcs.requests.map((request) => `${request.method} ${request.path.replace(/\/o\/.*$/, '/o/:name')}`);
    expect(calls).toEqual([
      'POST /token',
      `POST /upload/storage/v1/b/${BUCKET}/o`,
      `GET /storage/v1/b/${BUCKET}/o/:name`,
      `GET /storage/v1/b/${BUCKET}/o`,
      `DELETE /storage/v1/b/${BUCKET}/o/:name`,
    ]);
    const list = gcs.requests[3]!;
    expect(list.query.get('maxResults')).toBe('1');
    expect(list.query.get('prefix')).toMatch(/^\.deeplens-probe\/.+/);
  });

  it('reports a service account the token endpoint does not know as invalid_credentials', async () => {
    const stranger = gcs.addServiceAccount('stranger', { register: false });
    keys.push(stranger.keyJson);
    const result = await probeStorage('gcs', { ...good, service_account_key: stranger.keyJson }, options);
    failures.push(result);
    const message = expectFailure(result, 'invalid_credentials', false);
    expect(message).toContain(`the token endpoint ${gcs.tokenUri} rejected the service account key (invalid_grant)`);
  });

  it('reports a key whose signature does not match the account as invalid_credentials', async () => {
    const other = gcs.addServiceAccount('other-key', { register: false });
    keys.push(other.keyJson);
    const forged = JSON.stringify({ ...JSON.parse(other.keyJson), client_email: tenant.email });
    keys.push(forged);
    const result = await probeStorage('gcs', { ...good, service_account_key: forged }, options);
    failures.push(result);
    expectFailure(result, 'invalid_credentials', false);
  });

  it('reports a missing bucket as bucket_not_found', async () => {
    const result = await probeStorage('gcs', { ...good, bucket: 'deeplens-gcs-missing' }, options);
    failures.push(result);
    expect(expectFailure(result, 'bucket_not_found', false)).toContain('bucket "deeplens-gcs-missing" does not exist');
  });

  it('reports an account without a role on the bucket as access_denied', async () => {
    const outsider = gcs.addServiceAccount('outsider');
    keys.push(outsider.keyJson);
    const result = await probeStorage('gcs', { ...good, service_account_key: outsider.keyJson }, options);
    failures.push(result);
    expect(expectFailure(result, 'access_denied', false)).toContain('storage.objects.create');
  });

  it('reports a key that is not JSON as invalid_credentials', async () => {
    const notJson =
      '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----';
    keys.push(notJson);
    const result = await probeStorage('gcs', { ...good, service_account_key: notJson }, options);
    failures.push(result);
    expectFailure(result, 'invalid_credentials', false);
  });

  it('reports a key whose private_key is not a usable PEM key as invalid_credentials', async () => {
    const broken = JSON.stringify({
      ...JSON.parse(tenant.keyJson),
      private_key: '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5IGF0IGFsbCwganVzdCB0ZXh0\n-----END PRIVATE KEY-----\n',
    });
    keys.push(broken);
    const result = await probeStorage('gcs', { ...good, service_account_key: broken }, options);
    failures.push(result);
    expect(expectFailure(result, 'invalid_credentials', false)).toContain('private_key');
  });

  it('reports a closed API port as endpoint_unreachable, retryable', async () => {
    const port = await freePort();
    const key = JSON.stringify({ ...JSON.parse(tenant.keyJson), token_uri: `http://127.0.0.1:${port}/token` });
    const result = await probeStorage(
      'gcs',
      { ...good, service_account_key: key, api_endpoint: `http://127.0.0.1:${port}` },
      options,
    );
    failures.push(result);
    expect(expectFailure(result, 'endpoint_unreachable', true)).toContain(`127.0.0.1:${port}`);
  });

  it('never puts the service-account key (or its private key) in a failure message', () => {
    expect(failures.length).toBeGreaterThanOrEqual(6);
    const secrets = keys.flatMap((key) => {
      try {
        const parsed = JSON.parse(key) as { private_key: string; private_key_id: string };
        return [key, parsed.private_key, parsed.private_key_id];
      } catch {
        return [key];
      }
    });
    for (const result of failures) expectNoSecrets(result.error!.message, secrets);
  });
});
