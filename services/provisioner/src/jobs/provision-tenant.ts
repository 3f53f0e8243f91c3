import {
  AppError,
  deterministicJobId,
  factEvent,
  failpoint,
  keyringFromEnv,
  refreshTenantQuotaState,
  sql,
  storageConfigsRepository,
  tenantDatabaseName,
  tenantLoginRoleName,
  tenantRolesRepository,
  writeAudit,
  type JobContext,
  type JobPayload,
  type Migration,
  type Outbox,
  type TenantsRepository,
  type WorkerRuntime,
} from '@deeplens/shared';
import type { ProvisionerEnv } from '../config.js';
import type { SpareDatabases } from '../steps/spare-databases.steps.js';
import {
  dropTenantDatabase,
  dropTenantLoginRole,
  grantTenantDatabaseAccess,
  secureTenantDatabase,
} from '../steps/tenant-database.steps.js';

type Deps = {
  runtime: WorkerRuntime<ProvisionerEnv>;
  outbox: Outbox;
  tenants: TenantsRepository;
  spares: SpareDatabases;
};

/**
 * tenant.provision: clone, secure, migrate, register, store storage, activate.
 * Each step checks what is already done, so a retry after a crash at any
 * point finishes the work; a final failure undoes it and marks the tenant
 * failed with the reason.
 */
export function provisionTenantHandler({
  runtime,
  outbox,
  tenants,
  spares,
  templateMigrations,
}: Deps & { templateMigrations: Migration[] }) {
  const { env, platformPool } = runtime;
  const keyring = keyringFromEnv(env);
  const templateVersion = templateMigrations.at(-1)?.version ?? null;

  return async ({ tenantId }: JobPayload<'tenant.provision'>, context: JobContext) => {
    // The job reached the queue after the API's transaction committed (the outbox): the row is there, or never will be.
    const tenant = await tenants.find(tenantId);
    if (!tenant) throw new AppError('not_found', `tenant ${tenantId} does not exist`);
    // Already done, or overtaken by a deprovisioning: nothing left to do.
    if (tenant.status === 'active' || tenant.status === 'suspended') return { tenantId, status: tenant.status };
    if (tenant.status !== 'provisioning') {
      throw new AppError('conflict', `tenant ${tenant.name} is ${tenant.status}, not provisioning`);
    }
    const database = tenantDatabaseName(env.DEEPLENS_DB_PREFIX, tenant.name);

    try {
      await context.progress('clone', { database });
      const cloned = await spares.provide(tenantId, database);
      await failpoint('provision.after-clone');

      // Its own login role, the only one (besides the admin) that may connect to it, whichever way it came.
      await context.progress('access', { database });
      const { role } = await grantTenantDatabaseAccess(env, platformPool, keyring, tenantId, database);

      // A claimed spare was migrated and proven isolated for tenant_service, the role's only group,
      // before it was offered; the role itself is made without any attribute that bypasses RLS.
      let applied: string[] = [];
      if (cloned !== 'claimed') {
        await context.progress('secure', { database });
        applied = await secureTenantDatabase(env, database, templateMigrations, role);
      }

      // Registration and activation commit together: one transaction, one WAL flush, and no
      // moment when the database is registered but the tenant not yet active.
      await context.progress('activate', { database });
      const provisioned = factEvent('tenant.provisioned', [tenantId], tenantId, {
        name: tenant.name,
        plan: tenant.plan,
        database,
      });
      await outbox.transaction(async (trx, record) => {
        await trx.query(sql.typeAlias('void')`
          INSERT INTO tenant_databases (tenant_id, db_type, database_name, template_version)
          VALUES (${tenantId}, 'metadata', ${database}, ${templateVersion})
          ON CONFLICT (tenant_id, db_type) WHERE dropped_at IS NULL DO NOTHING`);
        if (env.DEEPLENS_DEFAULT_STORAGE) {
          await storageConfigsRepository.save(
            trx,
            { tenantId, provider: 'minio', config: env.DEEPLENS_DEFAULT_STORAGE, isPlatformDefault: true },
            keyring,
            { onlyIfMissing: true },
          );
        }
        await failpoint('provision.after-register');
        await spares.settle(tenantId, trx);
        await tenants.transition(tenantId, ['provisioning'], 'active', null, trx);
        await writeAudit(trx, {
          actor: 'provisioner',
          action: 'tenant.provisioned',
          tenantId,
          details: { name: tenant.name, database, cloned },
          dedupeKey: `tenant.provisioned:${tenantId}`,
        });
        await record.events(provisioned);
        // Its storage is verified now: recorded with the activation (one job per tenant, whatever
        // the retries), so it is queued at least once whatever happens after the commit.
        const storage = await storageConfigsRepository.findView(trx, tenantId);
        if (storage) {
          await record.job('storage.verify', {
            tenantId,
            configVersion: storage.version,
            requestId: deterministicJobId('storage.verify.provisioned', tenantId),
            reason: 'provisioned',
          });
        }
      });
      // The quota check reads the tenant's state from Redis. Not awaited: the job's outcome does not
      // depend on it, and the aggregator's reconciliation republishes states.
      void refreshTenantQuotaState(platformPool, runtime.producer, tenantId);
      // The spare it took is replaced now that the tenant is ready, not while it was being made.
      if (cloned === 'claimed') void spares.refill();
      context.log.info({ tenantId, database, cloned, migrations: applied }, 'tenant provisioned');
      return { tenantId, status: 'active', database };
    } catch (error) {
      const permanent = error instanceof AppError && !error.retryable;
      if (permanent || context.isFinalAttempt)
        await undoProvisioning({ runtime, outbox, tenants, spares }, tenantId, database, error);
      throw error;
    }
  };
}

/** Leaves nothing half-made: no database, no registration, no stored secrets; the tenant failed, with the reason. */
async function undoProvisioning(
  { runtime, outbox, tenants, spares }: Deps,
  tenantId: string,
  database: string,
  cause: unknown,
) {
  const reason = cause instanceof AppError ? cause.message : 'provisioning failed unexpectedly';
  const tenant = await tenants.find(tenantId);
  const failed = factEvent('tenant.provisioning_failed', [tenantId], tenantId, {
    name: tenant?.name ?? database,
    error: { code: cause instanceof AppError ? cause.code : 'internal_error', message: reason },
  });
  await dropTenantDatabase(runtime.env, database);
  await dropTenantLoginRole(runtime.env, tenantLoginRoleName(runtime.env.DEEPLENS_DB_PREFIX, tenantId));
  await outbox.transaction(async (trx, record) => {
    await trx.query(sql.typeAlias('void')`
      UPDATE tenant_databases SET dropped_at = now() WHERE tenant_id = ${tenantId} AND dropped_at IS NULL`);
    await tenantRolesRepository(trx, keyringFromEnv(runtime.env)).forget(tenantId);
    await storageConfigsRepository.remove(trx, tenantId);
    await spares.settle(tenantId, trx);
    await tenants.transition(tenantId, ['provisioning'], 'failed', reason, trx);
    await writeAudit(trx, {
      actor: 'provisioner',
      action: 'tenant.provisioning_failed',
      tenantId,
      details: { reason },
      dedupeKey: `tenant.provisioning_failed:${tenantId}`,
    });
    await record.events(failed);
  });
  // A tenant just failed is answered as such by the quota check at once (it reads Redis).
  await refreshTenantQuotaState(runtime.platformPool, runtime.producer, tenantId);
  runtime.log.warn({ tenantId, reason }, 'provisioning failed; undone');
}
