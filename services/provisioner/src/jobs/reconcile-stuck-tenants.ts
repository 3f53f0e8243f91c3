import type { TenantsRepository, WorkerRuntime } from '@deeplens/shared';
import type { ProvisionerEnv } from '../config.js';

/**
 * The safety net behind "every write that starts work has a job": a tenant
 * left in provisioning or deprovisioning without a job (the API crashed
 * between its commit and the enqueue, or Redis lost its data) gets its job
 * again. Job ids are derived from the tenant, so re-adding a job that still
 * exists does nothing, and several provisioners may run this at once.
 */
export async function reconcileStuckTenants(runtime: WorkerRuntime<ProvisionerEnv>, tenants: TenantsRepository) {
  const stuck = await tenants.stuck(runtime.env.DEEPLENS_RECONCILE_AFTER_SECONDS);
  for (const tenant of stuck) {
    const name = tenant.status === 'provisioning' ? 'tenant.provision' : 'tenant.deprovision';
    const queue = runtime.producer.queue('provisioning');
    const jobId = await runtime.producer.enqueue(name, { tenantId: tenant.id });
    // A job that exists but failed for good is left alone: the tenant's status tells the operator.
    const state = await queue.getJobState(jobId);
    runtime.log.info({ tenantId: tenant.id, job: name, jobId, state }, 'reconciled a tenant in transition');
  }
  return stuck.length;
}
