import type { Readable } from 'node:stream';
import { DefaultTransporter, JWT } from 'google-auth-library';
import type { GuardedAgents } from '../egress/guarded-connect.js';
import type { StorageConfigOf } from '../schemas/storage.js';
import { GOOGLE_TOKEN_URL, type ServiceAccountKey } from './endpoints.js';

/**
 * Google Cloud Storage through its JSON API, with a JWT client built here
 * from the service-account key's own fields, never through google-auth-library's
 * credential detection (which, for other key types, reads the files and fetches
 * the URLs a key names). Every request, the token grant included, goes through
 * one transporter that pins it to the guarded agents and follows no redirect.
 */

export const DEFAULT_GCS_ENDPOINT = 'https://storage.googleapis.com';
const SCOPE = 'https://www.googleapis.com/auth/devstorage.read_write';
/** Where google-auth-library's JWT client posts its assertion, whatever the key says. */
export const LIBRARY_TOKEN_URL = 'https://www.googleapis.com/oauth2/v4/token';

type RequestOptions = Parameters<DefaultTransporter['request']>[0];

class GuardedTransporter extends DefaultTransporter {
  constructor(
    private readonly tokenUri: string,
    private readonly agents: GuardedAgents,
  ) {
    super();
  }

  override request<T>(opts: RequestOptions) {
    const url = opts.url?.toString();
    return super.request<T>({
      ...opts,
      // The token grant goes to the key's token_uri (or Google's), nowhere the library chose.
      url: url === LIBRARY_TOKEN_URL ? this.tokenUri : url,
      agent: (target: URL) => (target.protocol === 'http:' ? this.agents.http : this.agents.https),
      maxRedirects: 0,
      // One attempt: the job decides about retries from the classified error.
      retry: false,
      retryConfig: { ...opts.retryConfig, retry: 0 },
    });
  }
}

export interface GcsClient {
  /** The JSON API base, e.g. https://storage.googleapis.com. */
  readonly endpoint: string;
  readonly tokenUri: string;
  /** The OAuth grant on its own, so its failure is told apart from the API's. */
  authorize(): Promise<void>;
  upload(key: string, body: Buffer | Readable): Promise<void>;
  read(key: string): Promise<Buffer>;
  download(key: string): Promise<Readable>;
  /** Names under `prefix`, at most `max` of them (one page). */
  list(prefix: string, max: number): Promise<string[]>;
  remove(key: string, options?: { ignoreNotFound?: boolean }): Promise<void>;
}

/** `key` comes from parseServiceAccountKey, which refuses every other credential type. */
export function createGcsClient(
  config: StorageConfigOf<'gcs'>,
  key: ServiceAccountKey,
  agents: GuardedAgents,
): GcsClient {
  const endpoint = (config.api_endpoint ?? DEFAULT_GCS_ENDPOINT).replace(/\/+$/, '');
  const tokenUri = key.token_uri ?? GOOGLE_TOKEN_URL;
  const auth = new JWT({
    email: key.client_email,
    key: key.private_key,
    ...(key.private_key_id ? { keyId: key.private_key_id } : {}),
    scopes: [SCOPE],
    transporter: new GuardedTransporter(tokenUri, agents),
  });
  const bucket = encodeURIComponent(config.bucket);
  const objectUrl = (name: string) => `${endpoint}/storage/v1/b/${bucket}/o/${encodeURIComponent(name)}`;

  return {
    endpoint,
    tokenUri,
    async authorize() {
      await auth.getAccessToken();
    },
    async upload(name, body) {
      // A media upload: one request, streamed (chunked) when the body is a stream.
      await auth.request({
        method: 'POST',
        url: `${endpoint}/upload/storage/v1/b/${bucket}/o`,
        params: { uploadType: 'media', name },
        headers: { 'Content-Type': 'application/octet-stream' },
        data: body,
      });
    },
    async read(name) {
      const answer = await auth.request<ArrayBuffer>({
        url: objectUrl(name),
        params: { alt: 'media' },
        responseType: 'arraybuffer',
      });
      return Buffer.from(answer.data);
    },
    async download(name) {
      const answer = await auth.request<Readable>({
        url: objectUrl(name),
        params: { alt: 'media' },
        responseType: 'stream',
      });
      return answer.data;
    },
    async list(prefix, max) {
      const answer = await auth.request<{ items?: Array<{ name: string }> }>({
        url: `${endpoint}/storage/v1/b/${bucket}/o`,
        params: { prefix, maxResults: max },
      });
      return (answer.data.items ?? []).map((item) => item.name);
    },
    async remove(name, options = {}) {
      try {
        await auth.request({ method: 'DELETE', url: objectUrl(name) });
      } catch (error) {
        if (!(options.ignoreNotFound && (error as { response?: { status?: number } }).response?.status === 404))
          throw error;
      }
    },
  };
}
