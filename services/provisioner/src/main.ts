import { createTenantsRepository, runWorkerService } from '@deeplens/shared';
import { provisionerEnvSchema } from './config.js';
import { deprovisionTenantHandler } from './jobs/deprovision-tenant.js';
import { provisionTenantHandler } from './jobs/provision-tenant.js';
import { reconcileStuckTenants } from './jobs/reconcile-stuck-tenants.js';

await runWorkerService({
  name: 'provisioner',
  envSchema: provisionerEnvSchema,
  async start(runtime) {
    const tenants = createTenantsRepository(runtime.platformPool);
    runtime.startWorker('provisioning', {
      'tenant.provision': provisionTenantHandler({ runtime, tenants }),
      'tenant.deprovision': deprovisionTenantHandler({ runtime, tenants }),
    });
    const timer = setInterval(() => {
      reconcileStuckTenants(runtime, tenants).catch((error) =>
        runtime.log.warn({ err: error }, 'reconciling tenants in transition failed; will try again'),
      );
    }, runtime.env.DEEPLENS_RECONCILE_INTERVAL_MS);
    timer.unref();
    runtime.onClose(async () => clearInterval(timer));
  },
});
