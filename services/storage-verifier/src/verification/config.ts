import { egressPolicyFromEnv, nfsRulesFromEnv, positiveInt, workerEnvSchema, type WorkerEnv } from '@deeplens/shared';
import type { ProbeOptions } from '../probes/types.js';

/**
 * The verifier's own variables. Attempts and backoff (DEEPLENS_STORAGE_VERIFY_*)
 * are in the shared base: they travel on each job, set by whoever enqueues it.
 */
export const verifierEnvSchema = workerEnvSchema.extend({
  /** The longest one probe step (write, read, list or delete) may take; never more than the total. */
  DEEPLENS_STORAGE_STEP_TIMEOUT_MS: positiveInt(10_000),
  /** The longest a whole probe may take, its four steps together. */
  DEEPLENS_STORAGE_TOTAL_TIMEOUT_MS: positiveInt(30_000),
  /** How often to look for configs stuck in `verifying`, and how long one must have been so. */
  DEEPLENS_STORAGE_RECONCILE_INTERVAL_MS: positiveInt(60_000),
  DEEPLENS_STORAGE_RECONCILE_AFTER_SECONDS: positiveInt(900),
});

export type VerifierEnv = WorkerEnv & {
  DEEPLENS_STORAGE_STEP_TIMEOUT_MS: number;
  DEEPLENS_STORAGE_TOTAL_TIMEOUT_MS: number;
  DEEPLENS_STORAGE_RECONCILE_INTERVAL_MS: number;
  DEEPLENS_STORAGE_RECONCILE_AFTER_SECONDS: number;
};

/** What every probe of this process runs under: its deadlines, the egress policy and the NFS roots. */
export function probeOptions(env: VerifierEnv): ProbeOptions {
  const totalTimeoutMs = env.DEEPLENS_STORAGE_TOTAL_TIMEOUT_MS;
  return {
    stepTimeoutMs: Math.min(env.DEEPLENS_STORAGE_STEP_TIMEOUT_MS, totalTimeoutMs),
    totalTimeoutMs,
    egress: egressPolicyFromEnv(env),
    nfsRoots: env.DEEPLENS_NFS_ROOTS,
    nfsUnconfined: nfsRulesFromEnv(env).development,
  };
}
