import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { Client as MinioClient } from 'minio';
import type { GuardedAgents } from '../egress/guarded-connect.js';
import type { StorageConfigOf } from '../schemas/storage.js';
import { minioEndpoint } from './endpoints.js';

/** What an S3 client needs, for AWS and for S3-compatible services (MinIO) alike. */
export interface S3Target {
  bucket: string;
  region: string;
  /** Absent for AWS itself (the SDK's regional endpoint). */
  endpoint?: string;
  forcePathStyle: boolean;
  accessKeyId: string;
  secretAccessKey: string;
}

export function s3TargetOf(config: StorageConfigOf<'aws_s3'>): S3Target {
  return {
    bucket: config.bucket,
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    forcePathStyle: config.force_path_style ?? false,
    accessKeyId: config.access_key,
    secretAccessKey: config.secret_key,
  };
}

/** A MinIO config as an S3 target: path-style, the scheme `secure` chooses. */
export function minioTargetOf(config: StorageConfigOf<'minio'>): S3Target {
  const { raw, url, useSsl } = minioEndpoint(config);
  return {
    bucket: config.bucket,
    region: config.region ?? 'us-east-1',
    endpoint: url ? `${useSsl ? 'https' : 'http'}://${url.host}` : raw,
    forcePathStyle: true,
    accessKeyId: config.access_key,
    secretAccessKey: config.secret_key,
  };
}

/**
 * An S3 client whose every connection goes through the egress guard. The
 * SDK's request handler makes plain http(s) requests on the agents it is given
 * and follows no redirect (a 301 is an error the caller classifies).
 */
export function createS3Client(
  target: S3Target,
  agents: GuardedAgents,
  options: { maxAttempts?: number } = {},
): S3Client {
  return new S3Client({
    region: target.region,
    credentials: { accessKeyId: target.accessKeyId, secretAccessKey: target.secretAccessKey },
    ...(target.endpoint ? { endpoint: target.endpoint } : {}),
    forcePathStyle: target.forcePathStyle,
    requestHandler: new NodeHttpHandler({ httpAgent: agents.http, httpsAgent: agents.https }),
    ...(options.maxAttempts ? { maxAttempts: options.maxAttempts } : {}),
    // Callers check SHA-256 themselves; S3-compatible services often reject the SDK's default CRC trailers.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** The `minio` client on the guarded agent of its scheme; it makes one request per call and follows no redirect. */
export function createMinioClient(
  config: StorageConfigOf<'minio'>,
  url: URL,
  useSsl: boolean,
  agents: GuardedAgents,
): MinioClient {
  return new MinioClient({
    endPoint: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : useSsl ? 443 : 80,
    useSSL: useSsl,
    accessKey: config.access_key,
    secretKey: config.secret_key,
    ...(config.region ? { region: config.region } : {}),
    transportAgent: useSsl ? agents.https : agents.http,
    retryOptions: { disableRetry: true },
  });
}
