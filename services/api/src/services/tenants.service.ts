import { randomUUID } from 'node:crypto';
import type { Static } from '@sinclair/typebox';
import {
  assertNfsConfigAllowed,
  assertStorageEgress,
  conflict,
  isUuid,
  refreshTenantQuotaState,
  storageConfigsRepository,
  validationFailed,
  writeAudit,
  type CreateTenantBody,
  type DatabasePool,
  type EgressPolicy,
  type JobProducer,
  type Keyring,
  type ListTenantsQuery,
  type NfsRules,
  type Outbox,
  type PatchTenantBody,
  type JsonText,
  type tenantListSchema,
  type TenantsRepository,
} from '@deeplens/shared';

/** An opaque cursor: the last tenant of the previous page. */
const encodeCursor = (row: { id: string }) => Buffer.from(`t:${row.id}`).toString('base64url');

function decodeCursor(cursor: string): string {
  const decoded = Buffer.from(cursor, 'base64url').toString('utf8');
  if (decoded.startsWith('t:') && isUuid(decoded.slice(2))) return decoded.slice(2);
  throw validationFailed('cursor is not one this API handed out', [
    { field: 'querystring.cursor', message: 'is invalid' },
  ]);
}

export interface TenantsServiceDeps {
  pool: DatabasePool;
  tenants: TenantsRepository;
  producer: JobProducer;
  outbox: Outbox;
  keyring: Keyring;
  nfs: NfsRules;
  egress: EgressPolicy;
}

export function createTenantsService({ pool, tenants, producer, outbox, keyring, nfs, egress }: TenantsServiceDeps) {
  return {
    /**
     * Records the tenant, its storage and its provisioning job in one
     * transaction; the job reaches the queue after the commit (the outbox), so
     * the provisioner always finds the row, and a refused write leaves nothing.
     */
    async create(body: CreateTenantBody, actor: string) {
      if (body.storage) assertStorageEgress(egress, body.storage, 'body.storage.config');
      const plan = body.plan ?? 'free';
      const tenantId = randomUUID();
      if (body.storage) await assertNfsConfigAllowed(body.storage, nfs, tenantId);
      const jobId = await outbox.transaction(async (trx, record) => {
        await tenants.insert(trx, {
          id: tenantId,
          name: body.name,
          displayName: body.displayName ?? null,
          domain: body.domain?.toLowerCase() ?? null,
          plan,
        });
        if (body.storage) {
          await storageConfigsRepository.save(
            trx,
            { tenantId, provider: body.storage.provider, config: body.storage.config as Record<string, unknown> },
            keyring,
          );
        }
        await writeAudit(trx, {
          actor,
          action: 'tenant.create',
          tenantId,
          details: {
            name: body.name,
            plan,
            domain: body.domain ?? null,
            storageProvider: body.storage?.provider ?? null,
          },
        });
        return record.job('tenant.provision', { tenantId });
      });
      return { tenantId, jobId, status: 'provisioning' as const };
    },

    async get(idOrName: string) {
      return tenants.getView(idOrName);
    },

    async list(query: ListTenantsQuery) {
      const rows = await tenants.listViews({
        ...(query.plan ? { plan: query.plan } : {}),
        ...(query.status ? { status: query.status } : {}),
        limit: query.limit + 1,
        ...(query.cursor ? { afterId: decodeCursor(query.cursor) } : {}),
      });
      const page = rows.slice(0, query.limit);
      const nextCursor = rows.length > query.limit ? encodeCursor(page.at(-1)!) : null;
      const list = `{"items":[${page.map((row) => row.view).join(',')}],"nextCursor":${JSON.stringify(nextCursor)}}`;
      return list as JsonText<Static<typeof tenantListSchema>>;
    },

    async update(idOrName: string, patch: PatchTenantBody, actor: string) {
      const tenant = await tenants.get(idOrName);
      if (!['active', 'suspended'].includes(tenant.status)) {
        throw conflict(`tenant ${tenant.name} is ${tenant.status}; only active or suspended tenants can be changed`);
      }
      await pool.transaction(async (trx) => {
        await tenants.update(
          tenant.id,
          {
            ...(patch.plan !== undefined ? { plan: patch.plan } : {}),
            ...(patch.displayName !== undefined ? { displayName: patch.displayName } : {}),
            ...(patch.domain !== undefined ? { domain: patch.domain?.toLowerCase() ?? null } : {}),
            ...(patch.status !== undefined ? { status: patch.status } : {}),
          },
          trx,
        );
        await writeAudit(trx, { actor, action: 'tenant.update', tenantId: tenant.id, details: { changes: patch } });
      });
      // The quota check reads Redis: a plan change or suspension takes effect at the next check.
      await refreshTenantQuotaState(pool, producer, tenant.id);
      return tenants.getView(tenant.id);
    },

    /** Asks for deprovisioning; the confirm parameter must repeat the tenant's name. */
    async remove(idOrName: string, confirm: string | undefined, actor: string) {
      const tenant = await tenants.get(idOrName);
      if (confirm === undefined) {
        throw validationFailed('add ?confirm=<tenant name> to delete a tenant', [
          { field: 'querystring.confirm', message: 'is required' },
        ]);
      }
      if (confirm !== tenant.name) {
        throw validationFailed(`confirm must be the tenant's name, "${tenant.name}"`, [
          { field: 'querystring.confirm', message: 'does not match the tenant name' },
        ]);
      }
      if (tenant.status === 'deleted') throw conflict(`tenant ${tenant.name} is already deleted`);
      if (tenant.status === 'provisioning') {
        throw conflict(`tenant ${tenant.name} is still provisioning; delete it once its job has finished`);
      }
      const jobId = await outbox.transaction(async (trx, record) => {
        await tenants.transition(
          tenant.id,
          ['active', 'failed', 'suspended', 'deprovisioning'],
          'deprovisioning',
          null,
          trx,
        );
        await writeAudit(trx, { actor, action: 'tenant.delete', tenantId: tenant.id, details: { name: tenant.name } });
        return record.job('tenant.deprovision', { tenantId: tenant.id });
      });
      await refreshTenantQuotaState(pool, producer, tenant.id);
      return { jobId };
    },
  };
}

export type TenantsService = ReturnType<typeof createTenantsService>;
