import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import type { StorageConfigOf } from '@deeplens/shared';
import { Client } from 'minio';
import { runProbe, type ProbeOperations } from './probe-runner.js';
import { assertUrl, classifyS3Error, type S3Context } from './s3.probe.js';
import type { ProbeOptions, ProbeResult } from './types.js';

/**
 * Probes a MinIO (or other S3-compatible) bucket with the `minio` client.
 * `endpoint` is a URL such as https://minio.company.com:9000; without a
 * scheme, `secure` (default true) picks https. An explicit `secure` wins.
 */
export function probeMinio(config: StorageConfigOf<'minio'>, options: ProbeOptions): Promise<ProbeResult> {
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(config.endpoint);
  const rawUrl = hasScheme ? config.endpoint : `${config.secure === false ? 'http' : 'https'}://${config.endpoint}`;
  let endpoint = rawUrl.replace(/\/+$/, '');
  const context: S3Context = { bucket: config.bucket, region: config.region, endpoint, where: `at ${endpoint}` };
  return runProbe(
    {
      target: `bucket "${config.bucket}" at ${endpoint}`,
      secrets: [config.secret_key, config.access_key],
      open: () => {
        const url = assertUrl(rawUrl, 'endpoint');
        const useSSL = config.secure ?? url.protocol === 'https:';
        endpoint = `${useSSL ? 'https' : 'http'}://${url.host}`;
        context.endpoint = endpoint;
        context.where = `at ${endpoint}`;
        // Our own agent, so close() can cut a request the step deadline gave up on.
        const agent = useSSL ? new https.Agent({ keepAlive: false }) : new http.Agent({ keepAlive: false });
        const client = new Client({
          endPoint: url.hostname.replace(/^\[|\]$/g, ''),
          port: url.port ? Number(url.port) : useSSL ? 443 : 80,
          useSSL,
          accessKey: config.access_key,
          secretKey: config.secret_key,
          ...(config.region ? { region: config.region } : {}),
          transportAgent: agent,
          retryOptions: { disableRetry: true },
        });
        return minioOperations(client, config.bucket, agent);
      },
      classify: (error, step) => classifyS3Error(error, step, context),
    },
    options,
  );
}

function minioOperations(client: Client, bucket: string, agent: http.Agent): ProbeOperations {
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
      agent.destroy();
    },
  };
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}
