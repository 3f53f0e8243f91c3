import { createPrivateKey } from 'node:crypto';
import { Storage, type Bucket } from '@google-cloud/storage';
import type { StorageConfigOf } from '@deeplens/shared';
import { DefaultTransporter, JWT } from 'google-auth-library';
import {
  classifyNetworkError,
  errorCodes,
  errorDetail,
  failure,
  PROBE_PREFIX,
  ProbeFailureError,
  providerFailure,
  runProbe,
  type ProbeOperations,
  type StepName,
} from './probe-runner.js';
import { assertUrl } from './s3.probe.js';
import type { ProbeFailure, ProbeOptions, ProbeResult } from './types.js';

/**
 * Probes a Google Cloud Storage bucket with a service-account key (JSON).
 * `api_endpoint` points the JSON API elsewhere (private endpoints,
 * emulators); the key's own `token_uri` is where the OAuth JWT-bearer grant
 * goes, as Google's key files describe it.
 */

const DEFAULT_ENDPOINT = 'https://storage.googleapis.com';
const SCOPE = 'https://www.googleapis.com/auth/devstorage.read_write';
/** Where google-auth-library's JWT client posts its assertion, whatever the key says. */
const LIBRARY_TOKEN_URL = 'https://www.googleapis.com/oauth2/v4/token';

interface ServiceAccountKey {
  type?: string;
  client_email?: string;
  private_key?: string;
  private_key_id?: string;
  token_uri?: string;
}

export function probeGcs(config: StorageConfigOf<'gcs'>, options: ProbeOptions): Promise<ProbeResult> {
  const endpoint = (config.api_endpoint ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
  const key = parseKey(config.service_account_key);
  const context: GcsContext = { bucket: config.bucket, project: config.project_id, endpoint, tokenUri: key?.token_uri ?? LIBRARY_TOKEN_URL };
  return runProbe(
    {
      target: `bucket "${config.bucket}" in project "${config.project_id}"`,
      secrets: [config.service_account_key, key?.private_key, key?.private_key_id],
      open: async () => {
        if (!key) throw new ProbeFailureError(failure('invalid_credentials', 'the service account key is not valid JSON: paste the whole key file downloaded from the Google Cloud console'));
        if (!key.client_email || !key.private_key) {
          throw new ProbeFailureError(failure('invalid_credentials', 'the service account key lacks client_email or private_key: paste the whole key file of a service account (type "service_account")'));
        }
        try {
          createPrivateKey(key.private_key);
        } catch {
          throw new ProbeFailureError(failure('invalid_credentials', 'the private_key in the service account key is not a valid PEM private key: paste the key file unchanged'));
        }
        if (config.api_endpoint) assertUrl(config.api_endpoint, 'api_endpoint');
        const tokenUri = key.token_uri ? assertUrl(key.token_uri, 'token_uri').toString() : undefined;
        const auth = new JWT({
          email: key.client_email,
          key: key.private_key,
          ...(key.private_key_id ? { keyId: key.private_key_id } : {}),
          scopes: [SCOPE],
          transporter: tokenUri ? new TokenUriTransporter(tokenUri) : new DefaultTransporter(),
        });
        const storage = new Storage({
          projectId: config.project_id,
          authClient: auth,
          ...(config.api_endpoint ? { apiEndpoint: endpoint, useAuthWithCustomEndpoint: true } : {}),
          // One attempt: the job decides about retries from the classified error.
          retryOptions: { autoRetry: false, maxRetries: 0 },
        });
        // The OAuth grant first, on its own: inside an upload stream its errors lose their shape.
        await auth.getAccessToken();
        return gcsOperations(storage.bucket(config.bucket));
      },
      classify: (error, step) => classifyGcsError(error, step, context),
    },
    options,
  );
}

/** Sends the library's token request to the key's token_uri instead of its built-in URL. */
class TokenUriTransporter extends DefaultTransporter {
  constructor(private readonly tokenUri: string) {
    super();
  }

  override request<T>(opts: Parameters<DefaultTransporter['request']>[0]) {
    const url = opts.url?.toString();
    return super.request<T>(url === LIBRARY_TOKEN_URL ? { ...opts, url: this.tokenUri } : opts);
  }
}

function gcsOperations(bucket: Bucket): ProbeOperations {
  // The client takes no AbortSignal: the runner's deadline race bounds each call.
  return {
    async write(key, body) {
      await bucket.file(key).save(body, { resumable: false, validation: false, contentType: 'application/octet-stream' });
    },
    async read(key) {
      const [data] = await bucket.file(key).download({ validation: false });
      return data;
    },
    async list(key) {
      // The probe object's name as prefix and maxResults=1: never a walk of the bucket.
      const [files] = await bucket.getFiles({ prefix: key, maxResults: 1, autoPaginate: false });
      return files.some((file) => file.name === key);
    },
    async remove(key) {
      await bucket.file(key).delete();
    },
  };
}

function parseKey(text: string): ServiceAccountKey | null {
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === 'object' ? (value as ServiceAccountKey) : null;
  } catch {
    return null;
  }
}

interface GcsContext {
  bucket: string;
  project: string;
  endpoint: string;
  tokenUri: string;
}

const GCS_PERMISSION: Record<StepName, string> = {
  write: 'storage.objects.create',
  read: 'storage.objects.get',
  list: 'storage.objects.list',
  delete: 'storage.objects.delete',
};

const OAUTH_REJECTIONS = new Set(['invalid_grant', 'invalid_client', 'unauthorized_client', 'access_denied', 'invalid_scope']);

export function classifyGcsError(error: unknown, step: StepName, context: GcsContext): ProbeFailure {
  if (error instanceof ProbeFailureError) return error.failure;
  const e = (error ?? {}) as { code?: unknown; config?: { url?: unknown }; response?: { status?: number; data?: unknown } };
  const fromTokenEndpoint = String(e.config?.url ?? '') === context.tokenUri || String(e.config?.url ?? '') === LIBRARY_TOKEN_URL;
  const network = classifyNetworkError(error, fromTokenEndpoint ? `the token endpoint ${context.tokenUri}` : context.endpoint);
  if (network) return network;

  const data = e.response?.data as { error?: unknown } | undefined;
  const oauthError = typeof data?.error === 'string' ? data.error : /^(invalid_grant|invalid_client|unauthorized_client)\b/.exec(errorDetail(error))?.[1];
  if (oauthError && OAUTH_REJECTIONS.has(oauthError)) {
    return failure(
      'invalid_credentials',
      `the token endpoint ${context.tokenUri} rejected the service account key (${oauthError}): the key may have been deleted or the service account disabled; create a new key`,
    );
  }
  const signingFailed = errorCodes(error).some((code) => /^ERR_OSSL|^ERR_CRYPTO/.test(code)) || /PEM|DECODER|private key/i.test(errorDetail(error));
  if (!e.response && signingFailed) {
    return failure('invalid_credentials', 'the private_key in the service account key could not be used to sign: paste the key file unchanged');
  }

  const status = typeof e.code === 'number' ? e.code : e.response?.status;
  const bucket = `bucket "${context.bucket}"`;
  const detail = errorDetail(error);
  if (status === 401) return failure('invalid_credentials', `${context.endpoint} did not accept the service account's credentials (HTTP 401): check the key`);
  if (status === 403) {
    return failure(
      'access_denied',
      `the service account may not ${step} objects under "${PROBE_PREFIX}" in ${bucket} (grant ${GCS_PERMISSION[step]}, e.g. with roles/storage.objectAdmin on the bucket)`,
    );
  }
  if (status === 404 && (step === 'write' || step === 'list' || /bucket/i.test(detail))) {
    return failure('bucket_not_found', `${bucket} does not exist (project "${context.project}", endpoint ${context.endpoint})`);
  }
  if (status === 404) return providerFailure(`the probe object written to ${bucket} could not be found in the ${step} step`);
  if (status === 429) return providerFailure(`${context.endpoint} is rate-limiting requests (HTTP 429); try again later`, 503);
  const answered = `${context.endpoint} answered${status ? ` HTTP ${status}` : ' with an error'} during the ${step} step`;
  if (status !== undefined && status >= 500) return providerFailure(`${answered}; try again later`, status);
  return providerFailure(detail ? `${answered}: ${detail}` : answered, status);
}
