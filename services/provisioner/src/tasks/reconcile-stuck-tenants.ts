import type { TenantsRepository, WorkerRuntime } from '@deeplens/shared';
import type { ProvisionerEnv } from '../config.js';

/**
 * The safety net behind "every tenant in transition has a job": a tenant left
 * in provisioning or deprovisioning without a live job (the API crashed
 * between its commit and the enqueue, Redis lost its data, or the job failed
 * while its undo could not run) gets its job again. Enqueueing a tenant job
 * finds it when queued or running and reruns it when it failed, so several
 * provisioners may run this at once.
 */
export async function reconcileStuckTenants(runtime: WorkerRuntime<ProvisionerEnv>, tenants: TenantsRepository) {
  const stuck = await tenants.stuck(runtime.env.DEEPLENS_RECONCILE_AFTER_SECONDS);
  for (const tenant of stuck) {
    const name = tenant.status === 'provisioning' ? 'tenant.provision' : 'tenant.deprovision';
    const jobId = await runtime.producer.enqueue(name, { tenantId: tenant.id });
    runtime.log.info({ tenantId: tenant.id, job: name, jobId }, 'reconciled a tenant in transition');
  }
  return stuck.length;
}
