import type { Readable } from 'node:stream';
import { guardedAgents, minioEndpoint, type GuardedAgents, type StorageConfigOf } from '@deeplens/shared';
import { createMinioClient } from '@deeplens/shared/storage-clients';
import type { Client } from 'minio';
import { runProbe, type ProbeOperations } from './probe-runner.js';
import { assertUrl, classifyS3Error, type S3Context } from './s3.probe.js';
import type { ProbeOptions, ProbeResult } from './types.js';

/**
 * Probes a MinIO (or other S3-compatible) bucket with the `minio` client.
 * `endpoint` is a URL such as https://minio.company.com:9000; without a
 * scheme, `secure` (default true) picks https. An explicit `secure` wins.
 */
export function probeMinio(config: StorageConfigOf<'minio'>, options: ProbeOptions): Promise<ProbeResult> {
  const { raw, useSsl } = minioEndpoint(config);
  let endpoint = raw.replace(/\/+$/, '');
  const context: S3Context = { bucket: config.bucket, region: config.region, endpoint, where: `at ${endpoint}` };
  return runProbe(
    {
      target: `bucket "${config.bucket}" at ${endpoint}`,
      secrets: [config.secret_key, config.access_key],
      open: () => {
        const url = assertUrl(raw, 'endpoint');
        endpoint = `${useSsl ? 'https' : 'http'}://${url.host}`;
        context.endpoint = endpoint;
        context.where = `at ${endpoint}`;
        // Agents of its own, so close() can cut a request the step deadline gave up on.
        const agents = guardedAgents(options.egress, { keepAlive: false });
        return minioOperations(createMinioClient(config, url, useSsl, agents), config.bucket, agents);
      },
      classify: (error, step) => classifyS3Error(error, step, context),
    },
    options,
  );
}

function minioOperations(client: Client, bucket: string, agents: GuardedAgents): ProbeOperations {
  return {
    async write(key, body) {
      await client.putObject(bucket, key, body, body.length, { 'Content-Type': 'application/octet-stream' });
    },
    async read(key) {
      return readAll(await client.getObject(bucket, key));
    },
    async list(key) {
      // The probe object's key as prefix and max-keys=1: never a walk of the bucket.
      const page = await client.listObjectsV2Query(bucket, key, '', '', 1, '');
      return page.objects.some((item) => item.name === key);
    },
    async remove(key) {
      await client.removeObject(bucket, key);
    },
    close() {
      agents.destroy();
    },
  };
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}
