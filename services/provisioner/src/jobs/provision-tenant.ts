import { setTimeout as sleep } from 'node:timers/promises';
import {
  AppError,
  deterministicJobId,
  factEvent,
  failpoint,
  keyringFromEnv,
  publishRecordedEvents,
  recordDomainEvent,
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

type Deps = { runtime: WorkerRuntime<ProvisionerEnv>; tenants: TenantsRepository; spares: SpareDatabases };

/**
 * The API enqueues before its transaction commits, so a job may start a moment
 * before the tenant row is visible. Waiting for it here (a few milliseconds in
 * practice) instead of failing into the job's 1 s backoff took the median
 * provisioning from about 1.3 s to the clone's own time in the benchmark.
 */
async function findOnceCommitted(tenants: TenantsRepository, tenantId: string, waitMs = 2_000) {
  const deadline = Date.now() + waitMs;
  const started = Date.now();
  for (;;) {
    const tenant = await tenants.find(tenantId);
    if (tenant || Date.now() > deadline) return tenant;
    // Every 2 ms while a commit is due any moment (a primary-key lookup each), then backing off.
    await sleep(Date.now() - started < 100 ? 2 : 50);
  }
}

/**
 * tenant.provision: clone, secure, migrate, register, store storage, activate.
 * Each step checks what is already done, so a retry after a crash at any
 * point finishes the work; a final failure undoes it and marks the tenant
 * failed with the reason.
 */
export function provisionTenantHandler({ runtime, tenants, spares, templateMigrations }: Deps & { templateMigrations: Migration[] }) {
  const { env, platformPool } = runtime;
  const keyring = keyringFromEnv(env);
  const templateVersion = templateMigrations.at(-1)?.version ?? null;

  return async ({ tenantId }: JobPayload<'tenant.provision'>, context: JobContext) => {
    const tenant = await findOnceCommitted(tenants, tenantId);
    // Not visible after the wait: the API's transaction rolled back, or is slower than usual; retried with backoff.
    if (!tenant) throw new AppError('not_found', `tenant ${tenantId} does not exist`, { retryable: true });
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
      const provisioned = factEvent('tenant.provisioned', [tenantId], tenantId, { name: tenant.name, plan: tenant.plan, database });
      await platformPool.transaction(async (trx) => {
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
        await recordDomainEvent(trx, provisioned);
        // Its storage is verified now; enqueued before the commit (one job per tenant, whatever
        // the retries), so a failed enqueue retries the activation rather than skip the verification.
        const storage = await storageConfigsRepository.findView(trx, tenantId);
        if (storage) {
          await runtime.producer.enqueue('storage.verify', {
            tenantId,
            configVersion: storage.version,
            requestId: deterministicJobId('storage.verify.provisioned', tenantId),
            reason: 'provisioned',
          });
        }
      });
      // Not awaited: the job's outcome does not depend on it, and the dispatcher publishes what it misses.
      void publishAfterCommit(runtime, tenantId, [provisioned.id]);
      // The spare it took is replaced now that the tenant is ready, not while it was being made.
      if (cloned === 'claimed') void spares.refill();
      context.log.info({ tenantId, database, cloned, migrations: applied }, 'tenant provisioned');
      return { tenantId, status: 'active', database };
    } catch (error) {
      const permanent = error instanceof AppError && !error.retryable;
      if (permanent || context.isFinalAttempt) await undoProvisioning({ runtime, tenants, spares }, tenantId, database, error);
      throw error;
    }
  };
}

/** Leaves nothing half-made: no database, no registration, no stored secrets; the tenant failed, with the reason. */
async function undoProvisioning({ runtime, tenants, spares }: Deps, tenantId: string, database: string, cause: unknown) {
  const reason = cause instanceof AppError ? cause.message : 'provisioning failed unexpectedly';
  const tenant = await tenants.find(tenantId);
  const failed = factEvent('tenant.provisioning_failed', [tenantId], tenantId, {
    name: tenant?.name ?? database,
    error: { code: cause instanceof AppError ? cause.code : 'internal_error', message: reason },
  });
  await dropTenantDatabase(runtime.env, database);
  await dropTenantLoginRole(runtime.env, tenantLoginRoleName(runtime.env.DEEPLENS_DB_PREFIX, tenantId));
  await runtime.platformPool.transaction(async (trx) => {
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
    await recordDomainEvent(trx, failed);
  });
  await publishAfterCommit(runtime, tenantId, [failed.id]);
  runtime.log.warn({ tenantId, reason }, 'provisioning failed; undone');
}

/**
 * After a tenant's transition commits: its events onto the stream, and its
 * quota state into Redis, where the quota check reads it (a tenant just
 * activated, failed or deleted is answered as such at once). Failures are
 * logged, not thrown: the transition is committed, the event dispatcher
 * publishes outbox rows left unpublished, and the aggregator's reconciliation
 * republishes states.
 */
export async function publishAfterCommit(runtime: WorkerRuntime<ProvisionerEnv>, tenantId: string, ids: string[]): Promise<void> {
  await Promise.all([
    publishRecordedEvents(runtime.platformPool, { redis: runtime.producer.connection, queuePrefix: runtime.env.DEEPLENS_QUEUE_PREFIX }, ids).catch(
      (error: unknown) => runtime.log.warn({ err: error, events: ids }, 'events committed but not yet published; the dispatcher will publish them'),
    ),
    refreshTenantQuotaState(runtime.platformPool, runtime.producer, tenantId),
  ]);
}
