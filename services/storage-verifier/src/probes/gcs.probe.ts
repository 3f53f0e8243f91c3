import { createPrivateKey } from 'node:crypto';
import { AppError, guardedAgents, parseServiceAccountKey, type StorageConfigOf } from '@deeplens/shared';
import {
  createGcsClient,
  DEFAULT_GCS_ENDPOINT,
  LIBRARY_TOKEN_URL,
  type GcsClient,
} from '@deeplens/shared/storage-clients';
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
 * Probes a Google Cloud Storage bucket with a service-account key (JSON),
 * and only with one: other credential types are refused before any client
 * sees them. `api_endpoint` points the JSON API elsewhere (private endpoints,
 * emulators); the key's own `token_uri` is where the OAuth JWT-bearer grant
 * goes (Google's token endpoint without one), through the egress guard.
 */

export function probeGcs(config: StorageConfigOf<'gcs'>, options: ProbeOptions): Promise<ProbeResult> {
  const endpoint = (config.api_endpoint ?? DEFAULT_GCS_ENDPOINT).replace(/\/+$/, '');
  const rawKey = looseKey(config.service_account_key);
  const context: GcsContext = {
    bucket: config.bucket,
    project: config.project_id,
    endpoint,
    tokenUri: LIBRARY_TOKEN_URL,
  };
  return runProbe(
    {
      target: `bucket "${config.bucket}" in project "${config.project_id}"`,
      secrets: [config.service_account_key, rawKey?.private_key, rawKey?.private_key_id],
      open: async () => {
        let key: ReturnType<typeof parseServiceAccountKey>;
        try {
          key = parseServiceAccountKey(config.service_account_key);
        } catch (error) {
          throw new ProbeFailureError(
            failure(
              'invalid_credentials',
              error instanceof AppError ? error.message : 'the service account key is not usable',
              false,
            ),
          );
        }
        try {
          createPrivateKey(key.private_key);
        } catch {
          throw new ProbeFailureError(
            failure(
              'invalid_credentials',
              'the private_key in the service account key is not a valid PEM private key: paste the key file unchanged',
            ),
          );
        }
        if (config.api_endpoint) assertUrl(config.api_endpoint, 'api_endpoint');
        const agents = guardedAgents(options.egress);
        const client = createGcsClient(config, key, agents);
        context.tokenUri = client.tokenUri;
        try {
          // The OAuth grant first, on its own: its failures are told apart from the API's.
          await client.authorize();
        } catch (error) {
          agents.destroy();
          throw error;
        }
        return { ...gcsOperations(client), close: () => agents.destroy() };
      },
      classify: (error, step) => classifyGcsError(error, step, context),
    },
    options,
  );
}

function gcsOperations(client: GcsClient): ProbeOperations {
  // The client takes no AbortSignal: the runner's deadline race bounds each call.
  return {
    async write(key, body) {
      await client.upload(key, body);
    },
    read: (key) => client.read(key),
    async list(key) {
      // The probe object's name as prefix and maxResults=1: never a walk of the bucket.
      return (await client.list(key, 1)).includes(key);
    },
    remove: (key) => client.remove(key),
  };
}

/** The key's secret fields, for scrubbing messages, whatever its type. */
function looseKey(text: string): { private_key?: string; private_key_id?: string } | null {
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === 'object' ? (value as { private_key?: string; private_key_id?: string }) : null;
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

const OAUTH_REJECTIONS = new Set([
  'invalid_grant',
  'invalid_client',
  'unauthorized_client',
  'access_denied',
  'invalid_scope',
]);

function classifyGcsError(error: unknown, step: StepName, context: GcsContext): ProbeFailure {
  if (error instanceof ProbeFailureError) return error.failure;
  const e = (error ?? {}) as {
    code?: unknown;
    config?: { url?: unknown };
    response?: { status?: number; data?: unknown };
  };
  const fromTokenEndpoint =
    String(e.config?.url ?? '') === context.tokenUri || String(e.config?.url ?? '') === LIBRARY_TOKEN_URL;
  const network = classifyNetworkError(
    error,
    fromTokenEndpoint ? `the token endpoint ${context.tokenUri}` : context.endpoint,
  );
  if (network) return network;

  const data = e.response?.data as { error?: unknown } | undefined;
  const oauthError =
    typeof data?.error === 'string'
      ? data.error
      : /^(invalid_grant|invalid_client|unauthorized_client)\b/.exec(errorDetail(error))?.[1];
  if (oauthError && OAUTH_REJECTIONS.has(oauthError)) {
    return failure(
      'invalid_credentials',
      `the token endpoint ${context.tokenUri} rejected the service account key (${oauthError}): the key may have been deleted or the service account disabled; create a new key`,
    );
  }
  const signingFailed =
    errorCodes(error).some((code) => /^ERR_OSSL|^ERR_CRYPTO/.test(code)) ||
    /PEM|DECODER|private key/i.test(errorDetail(error));
  if (!e.response && signingFailed) {
    return failure(
      'invalid_credentials',
      'the private_key in the service account key could not be used to sign: paste the key file unchanged',
    );
  }

  const status = e.response?.status ?? (typeof e.code === 'number' ? e.code : undefined);
  const bucket = `bucket "${context.bucket}"`;
  const detail = errorDetail(error);
  if (status === 401)
    return failure(
      'invalid_credentials',
      `${context.endpoint} did not accept the service account's credentials (HTTP 401): check the key`,
    );
  if (status === 403) {
    return failure(
      'access_denied',
      `the service account may not ${step} objects under "${PROBE_PREFIX}" in ${bucket} (grant ${GCS_PERMISSION[step]}, e.g. with roles/storage.objectAdmin on the bucket)`,
    );
  }
  if (status === 404 && (step === 'write' || step === 'list' || /bucket/i.test(detail))) {
    return failure(
      'bucket_not_found',
      `${bucket} does not exist (project "${context.project}", endpoint ${context.endpoint})`,
    );
  }
  if (status === 404)
    return providerFailure(`the probe object written to ${bucket} could not be found in the ${step} step`);
  if (status === 429)
    return providerFailure(`${context.endpoint} is rate-limiting requests (HTTP 429); try again later`, 503);
  // The server's own words (an OAuth error_description, a JSON API message) stay out of the message.
  const from = fromTokenEndpoint ? `the token endpoint ${context.tokenUri}` : context.endpoint;
  const answered = `${from} answered${status ? ` HTTP ${status}` : ' with an error'} during the ${step} step`;
  if (status !== undefined && status >= 500) return providerFailure(`${answered}; try again later`, status);
  if ((status !== undefined && status >= 300 && status < 400) || /maximum redirect/i.test(detail))
    return providerFailure(
      `${answered}: a redirect, which DeepLens does not follow; configure the address it redirects to`,
      status,
    );
  return providerFailure(
    fromTokenEndpoint
      ? `${answered}: check the key's token_uri`
      : `${answered}: check that api_endpoint is a Google Cloud Storage JSON API and the bucket name is right`,
    status,
  );
}
