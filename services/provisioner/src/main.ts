import { createTenantsRepository, loadMigrations, pruneExpiredRecords, runWorkerService } from '@deeplens/shared';
import { provisionerEnvSchema } from './config.js';
import { backupPlatformHandler } from './jobs/backup-platform.js';
import { backupTenantHandler } from './jobs/backup-tenant.js';
import { deprovisionTenantHandler } from './jobs/deprovision-tenant.js';
import { provisionTenantHandler } from './jobs/provision-tenant.js';
import { reconcileStuckTenants } from './jobs/reconcile-stuck-tenants.js';
import { restoreTenantHandler } from './jobs/restore-tenant.js';
import { createSpareDatabases } from './steps/spare-databases.steps.js';
import { closeAdminSessions } from './steps/tenant-database.steps.js';

await runWorkerService({
  name: 'provisioner',
  envSchema: provisionerEnvSchema,
  async start(runtime) {
    const tenants = createTenantsRepository(runtime.platformPool);
    const templateMigrations = loadMigrations('template');
    const spares = createSpareDatabases({
      env: runtime.env,
      platformPool: runtime.platformPool,
      log: runtime.log,
      migrations: templateMigrations,
      target: runtime.env.DEEPLENS_SPARE_DATABASES,
    });
    runtime.startWorker('provisioning', {
      'tenant.provision': provisionTenantHandler({ runtime, tenants, spares, templateMigrations }),
      'tenant.deprovision': deprovisionTenantHandler({ runtime, tenants }),
      'tenant.backup': backupTenantHandler({ runtime }),
      'tenant.restore': restoreTenantHandler({ runtime }),
      'platform.backup': backupPlatformHandler({ runtime }),
    });
    // The provisioner keeps the registry in order: tenants left in a transition get their job again,
    // and records past their retention go.
    void spares.refill();
    const timer = setInterval(() => {
      void spares.refill();
      reconcileStuckTenants(runtime, tenants).catch((error) =>
        runtime.log.warn({ err: error }, 'reconciling tenants in transition failed; will try again'),
      );
      pruneExpiredRecords(runtime.platformPool, {
        jobRecordDays: runtime.env.DEEPLENS_JOB_RECORD_RETENTION_DAYS,
        verificationDays: runtime.env.DEEPLENS_VERIFICATION_HISTORY_DAYS,
      }).then(
        (pruned) => runtime.log.debug(pruned, 'pruned expired records'),
        (error) => runtime.log.warn({ err: error }, 'pruning expired records failed; will try again'),
      );
    }, runtime.env.DEEPLENS_RECONCILE_INTERVAL_MS);
    timer.unref();
    runtime.onClose(async () => clearInterval(timer));
    runtime.onClose(closeAdminSessions);
  },
});
