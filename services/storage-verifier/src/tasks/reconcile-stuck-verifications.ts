import { deterministicJobId, type WorkerRuntime } from '@deeplens/shared';
import { verificationsRepository as verifications } from '../repositories/verifications.repository.js';
import type { VerifierEnv } from '../verification/config.js';

/**
 * The safety net behind "every change has a verification": a config left
 * `verifying` for longer than any retry chain takes (Redis lost its job, or a
 * job gave up before the API's commit was visible) gets a job again. The
 * request id derives from the config version and the moment it became
 * `verifying`, so several verifiers running this at once add one job, and a
 * config stuck again later gets a new one.
 */
export async function reconcileStuckVerifications(runtime: WorkerRuntime<VerifierEnv>): Promise<number> {
  const stuck = await verifications.stuck(runtime.platformPool, runtime.env.DEEPLENS_STORAGE_RECONCILE_AFTER_SECONDS);
  for (const row of stuck) {
    const requestId = deterministicJobId(
      'storage.verify.reconcile',
      row.tenant_id,
      String(row.version),
      String(row.since),
    );
    const jobId = await runtime.producer.enqueue('storage.verify', {
      tenantId: row.tenant_id,
      configVersion: row.version,
      requestId,
      reason: 'on_demand',
    });
    runtime.log.info(
      { tenantId: row.tenant_id, configVersion: row.version, jobId },
      'reconciled a storage config stuck in verifying',
    );
  }
  return stuck.length;
}
