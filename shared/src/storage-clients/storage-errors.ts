import { EgressForbiddenError } from '../egress/egress-policy.js';
import { AppError } from '../errors.js';

/**
 * A storage SDK's or socket's error told in the platform's words: the kind of
 * failure and the HTTP status, never what the remote server wrote (its body
 * may be anything an endpoint chose to say, or what an internal service said).
 */

type Loose = {
  code?: unknown;
  name?: unknown;
  cause?: unknown;
  errno?: unknown;
  statusCode?: unknown;
  status?: unknown;
  $metadata?: { httpStatusCode?: number };
  response?: { status?: number };
};

function chain(error: unknown): Loose[] {
  const links: Loose[] = [];
  for (
    let e = error as Loose | undefined, depth = 0;
    e && typeof e === 'object' && depth < 6;
    e = e.cause as Loose | undefined, depth++
  )
    links.push(e);
  return links;
}

/** The guard's own wording (guarded-connect.ts), never a remote's. */
const GUARD_SENTENCE =
  /the endpoint [^\s]+ (?:resolves to a refused address|is refused): [^;]*; an operator may allow it with DEEPLENS_EGRESS_ALLOW/;

/** The EgressForbiddenError behind an SDK's wrapping, or a stand-in when a wrapper kept only its code. */
export function egressRefusal(error: unknown, what: string): EgressForbiddenError | null {
  const links = chain(error);
  const original = links.find((e) => e instanceof EgressForbiddenError);
  if (original) return original as EgressForbiddenError;
  if (!links.some((e) => e.code === 'endpoint_forbidden')) return null;
  // A wrapper (node-fetch, core-rest-pipeline) kept the guard's sentence inside its own message: take just that sentence.
  for (const e of links) {
    const own =
      typeof (e as { message?: unknown }).message === 'string'
        ? GUARD_SENTENCE.exec((e as { message: string }).message)
        : null;
    if (own) return new EgressForbiddenError(own[0]);
  }
  return new EgressForbiddenError(
    `${what}: the endpoint resolves to an address DeepLens may not reach for tenants (loopback, private, link-local...); an operator may allow it with DEEPLENS_EGRESS_ALLOW`,
  );
}

function statusOf(links: Loose[]): number | undefined {
  for (const e of links) {
    const status =
      e.$metadata?.httpStatusCode ??
      e.response?.status ??
      (typeof e.statusCode === 'number' ? e.statusCode : undefined) ??
      (typeof e.status === 'number' ? e.status : undefined);
    if (typeof status === 'number') return status;
  }
  return undefined;
}

function describeStorageError(error: unknown): string {
  const links = chain(error);
  const codes = links
    .flatMap((e) => [e.code, e.errno, e.name])
    .filter((code): code is string => typeof code === 'string');
  const has = (...wanted: string[]) => codes.some((code) => wanted.includes(code));
  if (has('ECONNREFUSED')) return 'the connection was refused';
  if (has('ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME')) return 'the host name could not be resolved';
  if (has('EHOSTUNREACH', 'ENETUNREACH')) return 'there is no route to the host';
  if (has('ECONNRESET', 'EPIPE', 'ECONNABORTED')) return 'the connection was closed unexpectedly';
  if (has('ETIMEDOUT', 'TimeoutError', 'AbortError')) return 'the endpoint did not answer in time';
  if (codes.some((code) => /^(CERT_|ERR_SSL_|ERR_TLS_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED)/.test(code)))
    return 'the TLS connection failed';
  if (has('max-redirect'))
    return 'the endpoint answered with a redirect, which DeepLens does not follow: configure the address it redirects to';
  const status = statusOf(links);
  if (status === undefined) return 'the storage service could not be used';
  if (status >= 300 && status < 400)
    return `the storage service answered HTTP ${status} (a redirect, which DeepLens does not follow: configure the address it redirects to)`;
  if (status === 401 || status === 403)
    return `the storage service answered HTTP ${status}: check the credentials and their permissions`;
  if (status === 404) return `the storage service answered HTTP 404: check the bucket or container name`;
  return `the storage service answered HTTP ${status}`;
}

/** `what` failed, as an AppError of `code` (retryable), or the egress refusal (not retryable) it was. */
export function storageFailure(error: unknown, what: string, code: string, httpStatus: number): AppError {
  return (
    egressRefusal(error, what) ??
    new AppError(code, `${what} failed: ${describeStorageError(error)}`, { retryable: true, httpStatus })
  );
}
