import { type BrokenHttpMode, startBrokenHttp } from '@deeplens/shared/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { testProbeOptions } from '../test-support/probe-options.js';
import { probeStorage } from './index.js';
import type { ProbeResult } from './types.js';

/**
 * "A probe can never take its process down", for the HTTP-based providers: an
 * endpoint that breaks HTTP (not HTTP at all, a truncated body, a bad chunk, a
 * reset) fails that probe with a classified error. Vitest fails the run on any
 * uncaught exception or unhandled rejection, so an error escaping an SDK's
 * socket or stream would fail this file even if every assertion held.
 */
const options = testProbeOptions({ stepTimeoutMs: 2000, totalTimeoutMs: 6000 });
let stop: (() => Promise<void>) | undefined;

afterEach(async () => {
  await stop?.();
  stop = undefined;
});

const configs = {
  aws_s3: (endpoint: string) => ({
    access_key: 'AKIAHOSTILE000000001',
    secret_key: 'hostile-s3-secret',
    region: 'us-east-1',
    bucket: 'b',
    endpoint,
    force_path_style: true,
  }),
  minio: (endpoint: string) => ({
    endpoint,
    access_key: 'hostile-access',
    secret_key: 'hostile-minio-secret',
    bucket: 'b',
    region: 'us-east-1',
  }),
  azure_blob: (endpoint: string) => ({
    connection_string: `DefaultEndpointsProtocol=http;AccountName=acct;AccountKey=${Buffer.from('hostile-azure-key').toString('base64')};BlobEndpoint=${endpoint}/acct`,
    container: 'images',
  }),
} as const;

const modes: BrokenHttpMode[] = ['garbage', 'truncated', 'bad-chunked', 'reset'];
const cases = (Object.keys(configs) as Array<keyof typeof configs>).flatMap((provider) =>
  modes.map((mode) => [provider, mode] as const),
);

describe('HTTP storage probes against a broken endpoint', () => {
  it.each(cases)('%s against a %s answer fails the probe, not the process', async (provider, mode) => {
    const server = await startBrokenHttp(mode);
    stop = server.stop;
    const result: ProbeResult = await probeStorage(provider, configs[provider](server.endpoint) as never, options);
    expect(result.ok).toBe(false);
    expect([
      'provider_error',
      'endpoint_unreachable',
      'timeout',
      'invalid_credentials',
      'access_denied',
      'bucket_not_found',
    ]).toContain(result.error?.code);
    expect(result.error!.message).not.toContain('REMOTE-SECRET-BODY');
  });
});
