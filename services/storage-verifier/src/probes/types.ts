import type { EgressPolicy } from '@deeplens/shared';

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
  | 'provider_error'
  /** The config aims at an address the egress policy refuses (DEEPLENS_EGRESS_ALLOW); never retried. */
  | 'endpoint_forbidden';

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
  /** Every connection a probe makes passes this policy (DEEPLENS_EGRESS_ALLOW; loopback in development). */
  egress: EgressPolicy;
  /** DEEPLENS_NFS_ROOTS: the folders an NFS mount path must resolve into. */
  nfsRoots: readonly string[];
  /** Development with no NFS roots: any absolute mount path is accepted (outside development, NFS is refused then). */
  nfsUnconfined?: boolean;
  /** Whose storage this is: the NFS probe writes only in `<mount_path>/<tenantId>/`. */
  tenantId?: string;
}

/** Network-level failures may clear up by themselves; configuration ones need the tenant. */
export const RETRYABLE_CODES: ReadonlySet<ProbeErrorCode> = new Set(['endpoint_unreachable', 'timeout', 'tls_error']);
