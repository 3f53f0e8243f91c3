import { generateKeyPairSync, randomBytes, verify, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

/**
 * A small Google Cloud Storage stand-in on 127.0.0.1 (no GCS emulator can be
 * installed here). It speaks exactly the parts of Google's protocols the real
 * JSON API client and google-auth-library's JWT grant use (shared/src/storage-clients):
 *
 * - OAuth 2.0 JWT-bearer grant (RFC 7523) at /token: the assertion's RS256
 *   signature is verified against the public key of the service account named
 *   in `iss`; an unknown account or a bad signature gets Google's 400
 *   invalid_grant; a good one gets a bearer token.
 * - JSON API v1: multipart/media upload, media download, list (prefix,
 *   maxResults, pageToken) and delete, with Google's error bodies; 401 without
 *   a known bearer token, 404 for a missing bucket, 403 when the account has no
 *   role on the bucket.
 *
 * Every request is logged so tests can assert what the client sent.
 */

export interface ServiceAccount {
  email: string;
  /** The key file as Google issues it, with token_uri pointing at this fixture. */
  keyJson: string;
}

export interface GcsFixture {
  endpoint: string;
  tokenUri: string;
  requests: Array<{ method: string; path: string; query: URLSearchParams }>;
  /** Registers a service account (RSA key made here) and returns its key file. */
  addServiceAccount(name: string, options?: { register?: boolean }): ServiceAccount;
  /** Creates a bucket that the given accounts may use. */
  addBucket(name: string, members: string[]): void;
  objects(bucket: string): string[];
  stop(): Promise<void>;
}

interface StoredObject {
  data: Buffer;
  contentType: string;
  generation: number;
}

export async function startGcsFixture(): Promise<GcsFixture> {
  const accounts = new Map<string, KeyObject>();
  const tokens = new Map<string, string>();
  const buckets = new Map<string, { members: Set<string>; objects: Map<string, StoredObject> }>();
  const requests: GcsFixture['requests'] = [];
  let generation = 1;

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) =>
      sendError(res, 500, error instanceof Error ? error.message : 'internal error'),
    );
  });

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://fixture');
    requests.push({ method: req.method ?? 'GET', path: url.pathname, query: url.searchParams });
    const body = await readBody(req);

    if (url.pathname === '/token' && req.method === 'POST')
      return token(res, new URLSearchParams(body.toString('utf8')));

    const auth = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    const account = auth?.[1] ? tokens.get(auth[1]) : undefined;
    if (!account) return sendError(res, 401, 'Invalid Credentials', 'authError');

    const match = /^\/(?:upload\/)?storage\/v1\/b\/([^/]+)\/o(?:\/(.+))?$/.exec(url.pathname);
    if (!match) return sendError(res, 501, `the fixture does not serve ${req.method} ${url.pathname}`);
    const bucket = buckets.get(decodeURIComponent(match[1]!));
    if (!bucket) return sendError(res, 404, 'The specified bucket does not exist.', 'notFound');
    if (!bucket.members.has(account)) {
      return sendError(
        res,
        403,
        `${account} does not have storage.objects access to the Google Cloud Storage bucket.`,
        'forbidden',
      );
    }
    const objectName = match[2] ? decodeURIComponent(match[2]) : undefined;
    const isUpload = url.pathname.startsWith('/upload/');

    if (isUpload && req.method === 'POST') {
      const upload = parseUpload(req.headers['content-type'] ?? '', body, url.searchParams);
      if (!upload.name) return sendError(res, 400, 'Required object name', 'required');
      const stored = { data: upload.data, contentType: upload.contentType, generation: generation++ };
      bucket.objects.set(upload.name, stored);
      return sendJson(res, 200, resource(match[1]!, upload.name, stored));
    }
    if (objectName !== undefined && req.method === 'GET') {
      const stored = bucket.objects.get(objectName);
      if (!stored) return sendError(res, 404, `No such object: ${match[1]}/${objectName}`, 'notFound');
      if (url.searchParams.get('alt') === 'media') {
        res.writeHead(200, {
          'content-type': stored.contentType,
          'content-length': stored.data.length,
          'x-goog-generation': String(stored.generation),
        });
        return res.end(stored.data);
      }
      return sendJson(res, 200, resource(match[1]!, objectName, stored));
    }
    if (objectName !== undefined && req.method === 'DELETE') {
      if (!bucket.objects.delete(objectName))
        return sendError(res, 404, `No such object: ${match[1]}/${objectName}`, 'notFound');
      res.writeHead(204);
      return res.end();
    }
    if (objectName === undefined && req.method === 'GET') {
      const prefix = url.searchParams.get('prefix') ?? '';
      const max = Math.min(Number(url.searchParams.get('maxResults') ?? 1000) || 1000, 1000);
      const after = url.searchParams.get('pageToken') ?? '';
      const names = [...bucket.objects.keys()].filter((name) => name.startsWith(prefix) && name > after).sort();
      const page = names.slice(0, max);
      return sendJson(res, 200, {
        kind: 'storage#objects',
        items: page.map((name) => resource(match[1]!, name, bucket.objects.get(name)!)),
        ...(names.length > max ? { nextPageToken: page.at(-1) } : {}),
      });
    }
    return sendError(res, 501, `the fixture does not serve ${req.method} ${url.pathname}`);
  }

  function token(res: ServerResponse, form: URLSearchParams) {
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
      return sendJson(res, 400, { error: 'unsupported_grant_type', error_description: 'Invalid grant_type' });
    }
    const [header, payload, signature] = (form.get('assertion') ?? '').split('.');
    if (!header || !payload || !signature)
      return sendJson(res, 400, { error: 'invalid_grant', error_description: 'Invalid JWT.' });
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as {
      iss?: string;
      exp?: number;
      scope?: string;
    };
    const key = claims.iss ? accounts.get(claims.iss) : undefined;
    if (!key)
      return sendJson(res, 400, { error: 'invalid_grant', error_description: 'Invalid grant: account not found' });
    const signed = verify('RSA-SHA256', Buffer.from(`${header}.${payload}`), key, Buffer.from(signature, 'base64url'));
    if (!signed) return sendJson(res, 400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' });
    if (!claims.exp || claims.exp * 1000 < Date.now())
      return sendJson(res, 400, {
        error: 'invalid_grant',
        error_description: 'Invalid JWT: Token must be a short-lived token',
      });
    if (!claims.scope?.includes('devstorage'))
      return sendJson(res, 400, { error: 'invalid_scope', error_description: 'no storage scope requested' });
    const accessToken = `ya29.fixture-${randomBytes(16).toString('hex')}`;
    tokens.set(accessToken, claims.iss!);
    return sendJson(res, 200, { access_token: accessToken, expires_in: 3599, token_type: 'Bearer' });
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const endpoint = `http://127.0.0.1:${port}`;
  const tokenUri = `${endpoint}/token`;

  return {
    endpoint,
    tokenUri,
    requests,
    addServiceAccount(name, { register = true } = {}) {
      const email = `${name}@deeplens-test.iam.gserviceaccount.com`;
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      if (register) accounts.set(email, publicKey);
      const keyJson = JSON.stringify({
        type: 'service_account',
        project_id: 'deeplens-test',
        private_key_id: randomBytes(20).toString('hex'),
        private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        client_email: email,
        client_id: String(100000000000000000000n + BigInt(accounts.size)),
        auth_uri: `${endpoint}/auth`,
        token_uri: tokenUri,
      });
      return { email, keyJson };
    },
    addBucket(name, members) {
      buckets.set(name, { members: new Set(members), objects: new Map() });
    },
    objects: (bucket) => [...(buckets.get(bucket)?.objects.keys() ?? [])],
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function resource(bucket: string, name: string, stored: StoredObject) {
  return {
    kind: 'storage#object',
    id: `${bucket}/${name}/${stored.generation}`,
    name,
    bucket,
    generation: String(stored.generation),
    contentType: stored.contentType,
    size: String(stored.data.length),
  };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** uploadType=media (raw body, name in the query) or multipart (JSON metadata part + media part). */
function parseUpload(
  contentType: string,
  body: Buffer,
  query: URLSearchParams,
): { name?: string; data: Buffer; contentType: string } {
  const boundary = /boundary="?([^";]+)"?/.exec(contentType)?.[1];
  if (query.get('uploadType') !== 'multipart' || !boundary) {
    return { name: query.get('name') ?? undefined, data: body, contentType: contentType || 'application/octet-stream' };
  }
  const parts: Array<{ headers: string; content: Buffer }> = [];
  const delimiter = Buffer.from(`--${boundary}`);
  let at = body.indexOf(delimiter);
  while (at !== -1) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, start);
    const part = body.subarray(start + 2, next === -1 ? body.length : next - 2); // skip CRLF after the delimiter, drop CRLF before the next
    const split = part.indexOf('\r\n\r\n');
    parts.push({ headers: part.subarray(0, split).toString('utf8'), content: part.subarray(split + 4) });
    at = next;
  }
  const metadata = JSON.parse(parts[0]?.content.toString('utf8') ?? '{}') as { name?: string; contentType?: string };
  const media = parts[1];
  const mediaType = /content-type:\s*([^\r\n]+)/i.exec(media?.headers ?? '')?.[1];
  return {
    name: metadata.name ?? query.get('name') ?? undefined,
    data: media?.content ?? Buffer.alloc(0),
    contentType: metadata.contentType ?? mediaType ?? 'application/octet-stream',
  };
}

function sendJson(res: ServerResponse, status: number, value: unknown) {
  const text = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json; charset=UTF-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, message: string, reason = 'error') {
  sendJson(res, status, { error: { code: status, message, errors: [{ message, domain: 'global', reason }] } });
}
