import {
  AppError,
  factEvent,
  refreshTenantQuotaState,
  sql,
  storageConfigsRepository,
  tenantDatabaseName,
  tenantLoginRoleName,
  tenantRolesRepository,
  keyringFromEnv,
  writeAudit,
  type JobContext,
  type JobPayload,
  type Outbox,
  type TenantsRepository,
  type WorkerRuntime,
} from '@deeplens/shared';
import { z } from 'zod';
import type { ProvisionerEnv } from '../config.js';
import { backupRecords } from '../repositories/backup-records.repository.js';
import { dropTenantDatabase, dropTenantLoginRole } from '../steps/tenant-database.steps.js';

type Deps = { runtime: WorkerRuntime<ProvisionerEnv>; outbox: Outbox; tenants: TenantsRepository };

/**
 * tenant.deprovision: drop every database of the tenant (the registered ones,
 * those its restores made or set aside, and the one its name would have, in
 * case a clone was never registered), then its login role; delete its stored
 * credentials, and keep the row as `deleted` with its usage history. Every
 * step is safe to repeat.
 */
export function deprovisionTenantHandler({ runtime, outbox, tenants }: Deps) {
  const { env, platformPool } = runtime;
  const keyring = keyringFromEnv(env);
  const records = backupRecords(platformPool);

  return async ({ tenantId }: JobPayload<'tenant.deprovision'>, context: JobContext) => {
    // The job reached the queue after the API's transaction that moved the tenant to deprovisioning committed.
    const tenant = await tenants.find(tenantId);
    if (!tenant) throw new AppError('not_found', `tenant ${tenantId} does not exist`);
    if (tenant.status === 'deleted') return { tenantId, status: 'deleted' };
    if (tenant.status !== 'deprovisioning') {
      throw new AppError('conflict', `tenant ${tenant.name} is ${tenant.status}, not deprovisioning`);
    }

    const registered = await platformPool.anyFirst(sql.type(z.object({ database_name: z.string() }))`
      SELECT database_name FROM tenant_databases WHERE tenant_id = ${tenantId} AND dropped_at IS NULL`);
    const restored = await records.restoreDatabases(tenantId);
    const databases = new Set([...registered, ...restored, tenantDatabaseName(env.DEEPLENS_DB_PREFIX, tenant.name)]);
    await context.progress('drop', { databases: [...databases] });
    for (const database of databases) await dropTenantDatabase(env, database);
    await dropTenantLoginRole(env, tenantLoginRoleName(env.DEEPLENS_DB_PREFIX, tenantId));

    await context.progress('forget');
    const deprovisioned = factEvent('tenant.deprovisioned', [tenantId], tenantId, {
      name: tenant.name,
      databases: [...databases],
    });
    await outbox.transaction(async (trx, record) => {
      await trx.query(sql.typeAlias('void')`
        UPDATE tenant_databases SET dropped_at = now() WHERE tenant_id = ${tenantId} AND dropped_at IS NULL`);
      await storageConfigsRepository.remove(trx, tenantId);
      await tenantRolesRepository(trx, keyring).forget(tenantId);
      await tenants.transition(tenantId, ['deprovisioning'], 'deleted', null, trx);
      await writeAudit(trx, {
        actor: 'provisioner',
        action: 'tenant.deprovisioned',
        tenantId,
        details: { name: tenant.name, databases: [...databases] },
        dedupeKey: `tenant.deprovisioned:${tenantId}`,
      });
      await record.events(deprovisioned);
    });
    // A deleted tenant is answered as such by the quota check at once (it reads Redis).
    await refreshTenantQuotaState(platformPool, runtime.producer, tenantId);
    context.log.info({ tenantId, databases: [...databases] }, 'tenant deprovisioned');
    return { tenantId, status: 'deleted' };
  };
}
