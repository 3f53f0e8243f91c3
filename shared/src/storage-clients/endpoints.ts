import type { EgressPolicy } from '../egress/egress-policy.js';
import { validationFailed } from '../errors.js';
import type { AnyStorageConfig, StorageConfigOf } from '../schemas/storage.js';

/**
 * Where a storage config sends traffic, read the same way by the API (which
 * refuses a refused address named literally, before anything is stored), the
 * verifier's probes and the provisioner's backup writers (which connect only
 * through the egress guard). No SDK here: the API imports this.
 */

/** Google's OAuth token endpoint: where a key without token_uri gets its tokens. */
export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';

export interface ServiceAccountKey {
  client_email: string;
  private_key: string;
  private_key_id?: string;
  token_uri?: string;
}

/**
 * A GCS key as DeepLens accepts it: a JSON service-account key and nothing
 * else. Other credential types (external_account, authorized_user,
 * impersonated_service_account) make Google's client read local files or
 * fetch URLs the key names; they are refused before any client sees them.
 * `field` names the key in the error (e.g. `body.config.service_account_key`).
 */
export function parseServiceAccountKey(text: string, field = 'service_account_key'): ServiceAccountKey {
  const refuse = (problem: string) =>
    validationFailed(`${field} ${problem}: paste the JSON key file of a service account ("type": "service_account")`, [
      { field, message: problem },
    ]);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw refuse('is not JSON');
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw refuse('is not a JSON object');
  const key = value as Record<string, unknown>;
  if (key.type !== 'service_account') {
    throw refuse(
      typeof key.type === 'string' ? `is of type "${key.type.slice(0, 40)}", which is not accepted` : 'has no "type"',
    );
  }
  for (const name of ['client_email', 'private_key'] as const) {
    if (typeof key[name] !== 'string' || !(key[name] as string).trim()) throw refuse(`lacks ${name}`);
  }
  for (const name of ['private_key_id', 'token_uri'] as const) {
    if (key[name] !== undefined && typeof key[name] !== 'string') throw refuse(`has a ${name} that is not a string`);
  }
  if (typeof key.token_uri === 'string' && !httpUrl(key.token_uri))
    throw refuse('has a token_uri that is not an http(s) URL');
  return {
    client_email: key.client_email as string,
    private_key: key.private_key as string,
    ...(typeof key.private_key_id === 'string' ? { private_key_id: key.private_key_id } : {}),
    ...(typeof key.token_uri === 'string' ? { token_uri: key.token_uri } : {}),
  };
}

function httpUrl(text: string): URL | null {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : null;
  } catch {
    return null;
  }
}

/** MinIO's endpoint: a URL, or host:port with `secure` (default true) choosing the scheme; an explicit `secure` wins. */
export function minioEndpoint(config: Pick<StorageConfigOf<'minio'>, 'endpoint' | 'secure'>): {
  raw: string;
  url: URL | null;
  useSsl: boolean;
} {
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(config.endpoint);
  const raw = hasScheme ? config.endpoint : `${config.secure === false ? 'http' : 'https'}://${config.endpoint}`;
  const url = httpUrl(raw);
  const useSsl = config.secure ?? url?.protocol === 'https:';
  return { raw, url, useSsl };
}

export function parseConnectionString(connectionString: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const part of connectionString.split(';')) {
    const at = part.indexOf('=');
    if (at > 0) fields.set(part.slice(0, at).trim().toLowerCase(), part.slice(at + 1).trim());
  }
  return fields;
}

/** The account and blob endpoint an Azure connection string names (UseDevelopmentStorage means Azurite on loopback). */
export function azureBlobEndpoint(connectionString: string): { account: string; endpoint: string; usesSas: boolean } {
  const fields = parseConnectionString(connectionString);
  if (fields.get('usedevelopmentstorage')?.toLowerCase() === 'true') {
    return { account: 'devstoreaccount1', endpoint: 'http://127.0.0.1:10000/devstoreaccount1', usesSas: false };
  }
  const account = fields.get('accountname') ?? '(unnamed)';
  const endpoint =
    fields.get('blobendpoint') ??
    `${fields.get('defaultendpointsprotocol') ?? 'https'}://${account}.blob.${fields.get('endpointsuffix') ?? 'core.windows.net'}`;
  return {
    account,
    endpoint: endpoint.replace(/\/+$/, ''),
    usesSas: fields.has('sharedaccesssignature') && !fields.has('accountkey'),
  };
}

/**
 * The API's check of a tenant's storage config (`prefix` is where the config
 * sits in the body, e.g. `body.config`): a GCS key must be a service-account
 * key, and no endpoint may name a refused address literally (endpoint_forbidden).
 * Names are checked again, resolved, at every connection.
 */
export function assertStorageEgress(policy: EgressPolicy, input: AnyStorageConfig, prefix: string): void {
  const targets: Array<{ field: string; url: URL | null }> = [];
  switch (input.provider) {
    case 'aws_s3':
      if (input.config.endpoint) targets.push({ field: 'endpoint', url: httpUrl(input.config.endpoint) });
      break;
    case 'minio':
      targets.push({ field: 'endpoint', url: minioEndpoint(input.config).url });
      break;
    case 'azure_blob':
      targets.push({
        field: 'connection_string BlobEndpoint',
        url: httpUrl(azureBlobEndpoint(input.config.connection_string).endpoint),
      });
      break;
    case 'gcs': {
      const key = parseServiceAccountKey(input.config.service_account_key, `${prefix}.service_account_key`);
      if (input.config.api_endpoint) targets.push({ field: 'api_endpoint', url: httpUrl(input.config.api_endpoint) });
      if (key.token_uri) targets.push({ field: 'service_account_key token_uri', url: httpUrl(key.token_uri) });
      break;
    }
    default:
      break;
  }
  // A URL that does not parse is left to the verification, which reports it in the tenant's terms.
  for (const { field, url } of targets) if (url) policy.assertLiteralUrl(url, `the ${field} (${url.host})`);
}
