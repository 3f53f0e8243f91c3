/**
 * What a storage probe reports. A probe writes a small object under
 * `.deeplens-probe/`, reads it back, lists it and deletes it; each step is
 * timed, and the first failure stops the probe with a classified error whose
 * message tells the tenant what to fix (and never carries a secret).
 */

export type ProbeErrorCode =
  | 'invalid_credentials'
  | 'access_denied'
  | 'bucket_not_found'
  | 'endpoint_unreachable'
  | 'tls_error'
  | 'timeout'
  | 'not_writable'
  | 'provider_error';

export interface ProbeStep {
  step: 'write' | 'read' | 'list' | 'delete';
  ms: number;
  ok: boolean;
}

export interface ProbeFailure {
  code: ProbeErrorCode;
  message: string;
  retryable: boolean;
}

export interface ProbeResult {
  ok: boolean;
  steps: ProbeStep[];
  error: ProbeFailure | null;
  totalMs: number;
}

export interface ProbeOptions {
  stepTimeoutMs: number;
  totalTimeoutMs: number;
  signal?: AbortSignal;
}

/** Network-level failures may clear up by themselves; configuration ones need the tenant. */
export const RETRYABLE_CODES: ReadonlySet<ProbeErrorCode> = new Set(['endpoint_unreachable', 'timeout', 'tls_error']);
