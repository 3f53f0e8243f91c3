import { DeleteObjectCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { StorageConfigOf } from '@deeplens/shared';
import type { Readable } from 'node:stream';
import type { BackupStore } from './types.js';

interface S3Target {
  bucket: string;
  region: string;
  endpoint?: string;
  forcePathStyle: boolean;
  accessKeyId: string;
  secretAccessKey: string;
}

/** Multipart upload of a stream of unknown length: lib-storage buffers one 8 MiB part at a time, never the whole body. */
function s3Store(target: S3Target): BackupStore {
  const client = new S3Client({
    region: target.region,
    credentials: { accessKeyId: target.accessKeyId, secretAccessKey: target.secretAccessKey },
    ...(target.endpoint ? { endpoint: target.endpoint } : {}),
    forcePathStyle: target.forcePathStyle,
    // The backup carries its own SHA-256; S3-compatible services often reject the SDK's default CRC trailers.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return {
    target: `bucket "${target.bucket}"${target.endpoint ? ` at ${target.endpoint}` : ` in ${target.region}`}`,
    async upload(key, body) {
      const upload = new Upload({
        client,
        params: { Bucket: target.bucket, Key: key, Body: body, ContentType: 'application/octet-stream' },
        partSize: 8 * 1024 * 1024,
        queueSize: 2,
        leavePartsOnError: false,
      });
      await upload.done();
    },
    async download(key) {
      const answer = await client.send(new GetObjectCommand({ Bucket: target.bucket, Key: key }));
      if (!answer.Body) throw new Error(`object ${key} has no body`);
      return answer.Body as Readable;
    },
    async remove(key) {
      await client.send(new DeleteObjectCommand({ Bucket: target.bucket, Key: key })).catch(() => undefined);
    },
    async close() {
      client.destroy();
    },
  };
}

export const awsS3Store = (config: StorageConfigOf<'aws_s3'>): BackupStore =>
  s3Store({
    bucket: config.bucket,
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    forcePathStyle: config.force_path_style ?? false,
    accessKeyId: config.access_key,
    secretAccessKey: config.secret_key,
  });

/** MinIO's endpoint as the probe reads it: a URL, or host:port with `secure` choosing the scheme. */
export function minioStore(config: StorageConfigOf<'minio'>): BackupStore {
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(config.endpoint);
  const url = new URL(hasScheme ? config.endpoint : `${config.secure === false ? 'http' : 'https'}://${config.endpoint}`);
  const useSsl = config.secure ?? url.protocol === 'https:';
  return s3Store({
    bucket: config.bucket,
    region: config.region ?? 'us-east-1',
    endpoint: `${useSsl ? 'https' : 'http'}://${url.host}`,
    forcePathStyle: true,
    accessKeyId: config.access_key,
    secretAccessKey: config.secret_key,
  });
}
