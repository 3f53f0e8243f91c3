import { DeleteObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { guardedAgents, type EgressPolicy, type StorageConfigOf } from '@deeplens/shared';
import { createS3Client, minioTargetOf, s3TargetOf, type S3Target } from '@deeplens/shared/storage-clients';
import type { Readable } from 'node:stream';
import type { BackupStore } from './types.js';

/** Multipart upload of a stream of unknown length: lib-storage buffers one 8 MiB part at a time, never the whole body. */
function s3Store(target: S3Target, egress: EgressPolicy): BackupStore {
  const agents = guardedAgents(egress);
  const client = createS3Client(target, agents);
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
      agents.destroy();
    },
  };
}

export const awsS3Store = (config: StorageConfigOf<'aws_s3'>, egress: EgressPolicy): BackupStore =>
  s3Store(s3TargetOf(config), egress);

/** MinIO's endpoint as the probe reads it: a URL, or host:port with `secure` choosing the scheme. */
export const minioStore = (config: StorageConfigOf<'minio'>, egress: EgressPolicy): BackupStore =>
  s3Store(minioTargetOf(config), egress);
