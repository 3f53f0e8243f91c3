import {
  createOutbox,
  createTenantsRepository,
  loadMigrations,
  pruneExpiredRecords,
  runWorkerService,
} from '@deeplens/shared';
import { provisionerEnvSchema } from './config.js';
import { backupPlatformHandler } from './jobs/backup-platform.js';
import { backupTenantHandler } from './jobs/backup-tenant.js';
import { deprovisionTenantHandler } from './jobs/deprovision-tenant.js';
import { provisionTenantHandler } from './jobs/provision-tenant.js';
import { reconcileStuckTenants } from './tasks/reconcile-stuck-tenants.js';
import { restoreTenantHandler } from './jobs/restore-tenant.js';
import { createSpareDatabases } from './steps/spare-databases.steps.js';
import { closeAdminSessions } from './steps/tenant-database.steps.js';

await runWorkerService({
  name: 'provisioner',
  envSchema: provisionerEnvSchema,
  async start(runtime) {
    const tenants = createTenantsRepository(runtime.platformPool);
    const templateMigrations = loadMigrations('template');
    const outbox = createOutbox({ pool: runtime.platformPool, producer: runtime.producer, log: runtime.log });
    const spares = createSpareDatabases({
      env: runtime.env,
      platformPool: runtime.platformPool,
      log: runtime.log,
      migrations: templateMigrations,
      target: runtime.env.DEEPLENS_SPARE_DATABASES,
    });
    runtime.startWorker('provisioning', {
      'tenant.provision': provisionTenantHandler({ runtime, outbox, tenants, spares, templateMigrations }),
      'tenant.deprovision': deprovisionTenantHandler({ runtime, outbox, tenants }),
      'tenant.backup': backupTenantHandler({ runtime }),
      'tenant.restore': restoreTenantHandler({ runtime }),
      'platform.backup': backupPlatformHandler({ runtime }),
    });
    // The provisioner keeps the registry in order: tenants left in a transition get their job again,
    // records past their retention go, and the pool of spare databases is topped up (its refill
    // takes a lock of its own, since provisionings start refills too).
    const intervalMs = runtime.env.DEEPLENS_RECONCILE_INTERVAL_MS;
    runtime.every({ name: 'spare database refill', intervalMs }, () => spares.refill());
    runtime.every({ name: 'tenant reconciliation', intervalMs, exclusive: true }, () =>
      reconcileStuckTenants(runtime, tenants),
    );
    runtime.every({ name: 'record pruning', intervalMs, exclusive: true }, async () => {
      const pruned = await pruneExpiredRecords(runtime.platformPool, {
        jobRecordDays: runtime.env.DEEPLENS_JOB_RECORD_RETENTION_DAYS,
        verificationDays: runtime.env.DEEPLENS_VERIFICATION_HISTORY_DAYS,
      });
      runtime.log.debug(pruned, 'pruned expired records');
    });
    runtime.onClose(closeAdminSessions);
  },
});
