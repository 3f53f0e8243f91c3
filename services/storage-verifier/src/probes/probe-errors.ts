import { RETRYABLE_CODES, type ProbeErrorCode, type ProbeFailure } from './types.js';

/**
 * Building classified failures and reading SDK/socket errors: shared by the
 * provider probes (re-exported from probe-runner.ts). Nothing here quotes a
 * config value; the runner scrubs secrets from every final message.
 */

export function failure(code: ProbeErrorCode, message: string, retryable = RETRYABLE_CODES.has(code)): ProbeFailure {
  return { code, message, retryable };
}

/** A provider answer that fits no configuration code: retryable when the provider said 5xx. */
export function providerFailure(message: string, status?: number): ProbeFailure {
  return failure('provider_error', message, status !== undefined && status >= 500);
}

/** Removes every secret value (and, for multi-line secrets, each long line of it) from a message. */
export function redact(message: string, secrets: ReadonlyArray<string | undefined>): string {
  let out = message;
  const pieces = new Set<string>();
  for (const secret of secrets) {
    if (!secret) continue;
    pieces.add(secret);
    for (const line of secret.split(/\r?\n|\\n/)) if (line.trim().length >= 12) pieces.add(line.trim());
  }
  for (const piece of [...pieces].sort((a, b) => b.length - a.length)) {
    if (piece.length >= 4) out = out.split(piece).join('[redacted]');
  }
  return out;
}

// ---- error inspection helpers shared by the provider probes ----

type Loose = Record<string, unknown> & { cause?: unknown; errors?: unknown[] };
const asLoose = (value: unknown): Loose | undefined =>
  value && typeof value === 'object' ? (value as Loose) : undefined;

/** Every `code`/`name`/`errno` string on the error, its causes and (for AggregateError) its members. */
export function errorCodes(error: unknown, depth = 0): string[] {
  const e = asLoose(error);
  if (!e || depth > 4) return [];
  const codes: string[] = [];
  for (const field of ['code', 'name', 'Code', 'errno']) {
    const value = e[field];
    if (typeof value === 'string' && value) codes.push(value);
  }
  if (e.cause) codes.push(...errorCodes(e.cause, depth + 1));
  if (Array.isArray(e.errors)) for (const member of e.errors) codes.push(...errorCodes(member, depth + 1));
  return codes;
}

/**
 * The first line of an error's message, without stack. Not shortened here: the
 * runner scrubs secrets from the whole message first and shortens it after, so
 * a cut can never leave half a secret behind.
 */
export function errorDetail(error: unknown): string {
  const e = asLoose(error);
  const message = typeof e?.message === 'string' ? e.message : typeof error === 'string' ? error : '';
  return message.split('\n')[0]!.trim();
}

const TLS_CODE =
  /^(CERT_|ERR_SSL_|ERR_TLS_|EPROTO$|DEPTH_ZERO_SELF_SIGNED_CERT$|SELF_SIGNED_CERT_IN_CHAIN$|UNABLE_TO_(VERIFY|GET)_|HOSTNAME_MISMATCH$)/;

/**
 * Socket, DNS, TLS and timeout errors, the same for every provider. Returns
 * null when the error came from the storage service itself.
 */
export function classifyNetworkError(error: unknown, endpoint: string): ProbeFailure | null {
  const codes = errorCodes(error);
  const has = (...wanted: string[]) => codes.some((code) => wanted.includes(code));
  if (has('ECONNREFUSED'))
    return failure(
      'endpoint_unreachable',
      `could not connect to ${endpoint}: the connection was refused (is the address and port right, and is the service running?)`,
    );
  if (has('ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME'))
    return failure('endpoint_unreachable', `the host name of ${endpoint} could not be resolved`);
  if (has('EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL'))
    return failure('endpoint_unreachable', `${endpoint} is not reachable from DeepLens (no route to host)`);
  if (has('ECONNRESET', 'EPIPE', 'ECONNABORTED', 'UND_ERR_SOCKET'))
    return failure('endpoint_unreachable', `${endpoint} closed the connection unexpectedly`);
  const tls = codes.find((code) => TLS_CODE.test(code));
  if (tls)
    return failure(
      'tls_error',
      `the TLS connection to ${endpoint} failed (${tls}): check the endpoint's certificate and that the scheme (http/https) matches the service`,
    );
  if (
    has(
      'ETIMEDOUT',
      'ESOCKETTIMEDOUT',
      'TimeoutError',
      'AbortError',
      'UND_ERR_CONNECT_TIMEOUT',
      'RequestTimeout',
      'ABORT_ERR',
    )
  )
    return failure('timeout', `${endpoint} did not answer in time`);
  return null;
}
