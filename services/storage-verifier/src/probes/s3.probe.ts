import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { guardedAgents, type GuardedAgents, type StorageConfigOf } from '@deeplens/shared';
import { createS3Client, s3TargetOf } from '@deeplens/shared/storage-clients';
import {
  classifyNetworkError,
  errorDetail,
  failure,
  PROBE_PREFIX,
  ProbeFailureError,
  providerFailure,
  runProbe,
  type ProbeOperations,
  type StepName,
} from './probe-runner.js';
import type { ProbeFailure, ProbeOptions, ProbeResult } from './types.js';

/** Probes an S3 bucket (AWS, or any S3-compatible service through `endpoint` + `force_path_style`). */
export function probeS3(config: StorageConfigOf<'aws_s3'>, options: ProbeOptions): Promise<ProbeResult> {
  const endpoint = config.endpoint ?? `https://s3.${config.region}.amazonaws.com`;
  const where = config.endpoint ? `at ${endpoint}` : `in region ${config.region}`;
  const context: S3Context = { bucket: config.bucket, region: config.region, endpoint, where };
  return runProbe(
    {
      target: `bucket "${config.bucket}" ${where}`,
      secrets: [config.secret_key, config.access_key],
      open: () => {
        if (config.endpoint) assertUrl(config.endpoint, 'endpoint');
        const agents = guardedAgents(options.egress);
        // One attempt: the job decides about retries from the classified error.
        return s3Operations(createS3Client(s3TargetOf(config), agents, { maxAttempts: 1 }), config.bucket, agents);
      },
      classify: (error, step) => classifyS3Error(error, step, context),
    },
    options,
  );
}

/** The four probe steps over an S3 client; shared with the MinIO probe's error vocabulary. */
function s3Operations(client: S3Client, bucket: string, agents: GuardedAgents): ProbeOperations {
  return {
    async write(key, body, signal) {
      await client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: body,
          ContentLength: body.length,
          ContentType: 'application/octet-stream',
        }),
        { abortSignal: signal },
      );
    },
    async read(key, signal) {
      const answer = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal });
      if (!answer.Body) return Buffer.alloc(0);
      return Buffer.from(await answer.Body.transformToByteArray());
    },
    async list(key, signal) {
      // Prefix = the probe object's own key, and at most one key back: never a walk of the bucket.
      const answer = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key, MaxKeys: 1 }), {
        abortSignal: signal,
      });
      return (answer.Contents ?? []).some((item) => item.Key === key);
    },
    async remove(key, signal) {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal });
    },
    close() {
      client.destroy();
      agents.destroy();
    },
  };
}

export interface S3Context {
  bucket: string;
  region: string | undefined;
  /** The endpoint as the tenant configured it (or AWS's regional one). */
  endpoint: string;
  /** "in region us-west-2" or "at https://host:9000". */
  where: string;
}

const S3_ACTION: Record<StepName, string> = {
  write: 's3:PutObject',
  read: 's3:GetObject',
  list: 's3:ListBucket',
  delete: 's3:DeleteObject',
};

/** S3 error codes (AWS, MinIO, Ceph, moto...) → probe failures. Used by the S3 and MinIO probes. */
export function classifyS3Error(error: unknown, step: StepName, context: S3Context): ProbeFailure {
  if (error instanceof ProbeFailureError) return error.failure;
  const network = classifyNetworkError(error, context.endpoint);
  if (network) return network;
  const e = (error ?? {}) as {
    name?: string;
    code?: string;
    Code?: string;
    $metadata?: { httpStatusCode?: number };
    statusCode?: number;
  };
  const code = e.Code ?? (typeof e.code === 'string' ? e.code : undefined) ?? e.name ?? 'UnknownError';
  const status = e.$metadata?.httpStatusCode ?? e.statusCode;
  const bucket = `bucket "${context.bucket}"`;
  switch (code) {
    case 'InvalidAccessKeyId':
      return failure('invalid_credentials', `the access key was not recognised by the endpoint ${context.endpoint}`);
    case 'SignatureDoesNotMatch':
      return failure(
        'invalid_credentials',
        `the secret key does not match the access key: the endpoint ${context.endpoint} rejected the request signature`,
      );
    case 'InvalidToken':
    case 'ExpiredToken':
    case 'TokenRefreshRequired':
    case 'InvalidSecurity':
      return failure(
        'invalid_credentials',
        `the endpoint ${context.endpoint} did not accept the credentials (${code}): check the access key and secret key`,
      );
    case 'NoSuchBucket':
      return failure('bucket_not_found', `${bucket} does not exist ${context.where}`);
    case 'InvalidBucketName':
      return failure('bucket_not_found', `"${context.bucket}" is not a valid bucket name`);
    case 'PermanentRedirect':
    case 'MovedPermanently':
    case 'AuthorizationHeaderMalformed':
    case 'IllegalLocationConstraintException':
      return failure(
        'bucket_not_found',
        `${bucket} does not exist in region ${context.region ?? '(none given)'}: the endpoint says it lives in another region; set the bucket's own region`,
      );
    case 'AccessDenied':
    case 'AllAccessDisabled':
    case 'Forbidden':
    case 'AccountProblem':
      return accessDenied(step, context);
    case 'SlowDown':
    case 'ServiceUnavailable':
    case 'InternalError':
      return providerFailure(
        `the endpoint ${context.endpoint} is overloaded or failing (${code}); try again later`,
        status ?? 503,
      );
    case 'NotFound':
      if (step === 'write') return failure('bucket_not_found', `${bucket} does not exist ${context.where}`);
      break;
    case 'NoSuchKey':
      return providerFailure(
        `the probe object written to ${bucket} ${context.where} could not be read back (NoSuchKey)`,
      );
    default:
      break;
  }
  if (status === 301)
    return failure(
      'bucket_not_found',
      `${bucket} does not exist in region ${context.region ?? '(none given)'}: the endpoint redirected the request to another region`,
    );
  if (status === 403) return accessDenied(step, context);
  if (status === 404 && step === 'write')
    return failure('bucket_not_found', `${bucket} does not exist ${context.where}`);
  // The endpoint's own words (its error code and message) stay out of the message: it may be any server.
  const answered = `the endpoint ${context.endpoint} answered${status ? ` HTTP ${status}` : ' with an error'} during the ${step} step`;
  if (status !== undefined && status >= 500)
    return providerFailure(`${answered}; the service may be overloaded, try again later`, status);
  if (status === undefined && /deserializ|xml|parse/i.test(`${code} ${errorDetail(error)}`))
    return providerFailure(
      `the endpoint ${context.endpoint} did not answer like an S3 service during the ${step} step`,
    );
  if (status !== undefined && status >= 300 && status < 400)
    return providerFailure(
      `${answered}: a redirect, which DeepLens does not follow; configure the address the service redirects to`,
      status,
    );
  return providerFailure(
    `${answered}: check that the endpoint is an S3 service and that the bucket and region are right`,
    status,
  );
}

function accessDenied(step: StepName, context: S3Context): ProbeFailure {
  return failure(
    'access_denied',
    `the credentials were accepted but are not allowed to ${step} objects under "${PROBE_PREFIX}" in bucket "${context.bucket}" (grant ${S3_ACTION[step]} on the bucket)`,
  );
}

export function assertUrl(value: string, field: string): URL {
  try {
    const url = new URL(value);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('scheme');
    return url;
  } catch {
    throw new ProbeFailureError(
      failure(
        'endpoint_unreachable',
        `the ${field} "${value}" is not an http(s) URL such as https://storage.example.com:9000`,
        false,
      ),
    );
  }
}
