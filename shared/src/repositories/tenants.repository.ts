import type { CommonQueryMethods, DatabasePool } from 'slonik';
import { ForeignKeyIntegrityConstraintViolationError, UniqueIntegrityConstraintViolationError } from 'slonik';
import { z } from 'zod';
import { sql } from '../db/sql.js';
import { conflict, notFound, validationFailed } from '../errors.js';

export const tenantStatuses = ['provisioning', 'active', 'failed', 'suspended', 'deprovisioning', 'deleted'] as const;
export type TenantStatus = (typeof tenantStatuses)[number];
export const planIds = ['free', 'premium', 'enterprise'] as const;
export type PlanId = (typeof planIds)[number];

const tenantRow = z.object({
  id: z.string(),
  name: z.string(),
  display_name: z.string().nullable(),
  domain: z.string().nullable(),
  plan: z.string(),
  status: z.enum(tenantStatuses),
  status_reason: z.string().nullable(),
  storage_bytes_limit: z.number(),
  api_calls_limit: z.number(),
  max_collections_limit: z.number(),
  databases: z.array(z.object({ type: z.string(), name: z.string() })),
  storage_provider: z.string().nullable(),
  storage_status: z.string().nullable(),
  storage_last_tested_at: z.number().nullable(),
  storage_last_error: z.object({ code: z.string(), message: z.string() }).nullable(),
  created_at: z.number(),
  updated_at: z.number(),
});
export type TenantRow = z.infer<typeof tenantRow>;

/** A tenant as the contract shows it. */
export function toTenantView(row: TenantRow) {
  return {
    id: row.id,
    name: row.name,
    displayName: row.display_name,
    domain: row.domain,
    plan: row.plan,
    status: row.status,
    statusReason: row.status_reason,
    limits: {
      storageBytes: row.storage_bytes_limit,
      apiCallsPerMonth: row.api_calls_limit,
      maxCollections: row.max_collections_limit,
    },
    databases: row.databases,
    storage: row.storage_provider
      ? {
          provider: row.storage_provider,
          status: row.storage_status ?? 'unverified',
          lastTestedAt: row.storage_last_tested_at === null ? null : new Date(row.storage_last_tested_at).toISOString(),
          lastError: row.storage_last_error,
        }
      : null,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}
export type TenantView = ReturnType<typeof toTenantView>;

const selectTenant = sql.fragment`
  SELECT t.id, t.name, t.display_name, t.domain, t.plan, t.status, t.status_reason,
         coalesce(t.storage_bytes_limit, p.storage_bytes) AS storage_bytes_limit,
         coalesce(t.api_calls_limit, p.api_calls_per_month) AS api_calls_limit,
         coalesce(t.max_collections_limit, p.max_collections) AS max_collections_limit,
         coalesce((SELECT json_agg(json_build_object('type', d.db_type, 'name', d.database_name) ORDER BY d.db_type)
                     FROM tenant_databases d
                    WHERE d.tenant_id = t.id AND d.dropped_at IS NULL), '[]'::json) AS databases,
         s.provider AS storage_provider, s.status AS storage_status,
         s.last_tested_at AS storage_last_tested_at, s.last_error AS storage_last_error,
         t.created_at, t.updated_at
    FROM tenants t
    JOIN plans p ON p.id = t.plan
    LEFT JOIN tenant_storage_configs s ON s.tenant_id = t.id`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (value: string) => UUID.test(value);

export interface ListFilter {
  plan?: string;
  status?: string;
  limit: number;
  /** The id of the last tenant of the previous page; rows are never deleted, so it always exists. */
  afterId?: string;
}

/** Which unique index a violation hit, in the user's words. */
function describeUniqueViolation(error: UniqueIntegrityConstraintViolationError): string {
  const constraint = (error as unknown as { constraint?: string }).constraint ?? '';
  if (constraint.includes('domain')) return 'domain';
  return 'name';
}

export function createTenantsRepository(pool: DatabasePool) {
  const repository = {
    async insert(
      db: CommonQueryMethods,
      tenant: { id: string; name: string; displayName: string | null; domain: string | null; plan: string },
    ): Promise<void> {
      try {
        await db.query(sql.typeAlias('void')`
          INSERT INTO tenants (id, name, display_name, domain, plan, status)
          VALUES (${tenant.id}, ${tenant.name}, ${tenant.displayName}, ${tenant.domain}, ${tenant.plan}, 'provisioning')`);
      } catch (error) {
        if (error instanceof UniqueIntegrityConstraintViolationError) {
          const field = describeUniqueViolation(error);
          throw conflict(`a tenant with this ${field} already exists`, [{ field }]);
        }
        // Plans are checked by their foreign key, here and in update: no query of their own.
        if (error instanceof ForeignKeyIntegrityConstraintViolationError) throw validationFailed(`plan "${tenant.plan}" does not exist`);
        throw error;
      }
    },

    async find(idOrName: string, db: CommonQueryMethods = pool): Promise<TenantRow | null> {
      if (isUuid(idOrName)) {
        return db.maybeOne(sql.type(tenantRow)`${selectTenant} WHERE t.id = ${idOrName}`);
      }
      // A name belongs to at most one live tenant; after deletion it may name several past ones: show the newest.
      return db.maybeOne(sql.type(tenantRow)`
        ${selectTenant} WHERE t.name = ${idOrName}
        ORDER BY (t.status = 'deleted'), t.created_at DESC LIMIT 1`);
    },

    /** Like find, but an unknown tenant is the contract's 404. */
    async get(idOrName: string, db: CommonQueryMethods = pool): Promise<TenantRow> {
      const row = await repository.find(idOrName, db);
      if (!row) throw notFound(`no tenant "${idOrName}"`);
      return row;
    },

    async list(filter: ListFilter): Promise<TenantRow[]> {
      const conditions = [sql.fragment`TRUE`];
      if (filter.plan) conditions.push(sql.fragment`t.plan = ${filter.plan}`);
      if (filter.status) conditions.push(sql.fragment`t.status = ${filter.status}`);
      if (filter.afterId) {
        // Compared in the database at full precision: timestamps reach us rounded to milliseconds.
        conditions.push(sql.fragment`(t.created_at, t.id) > (SELECT created_at, id FROM tenants WHERE id = ${filter.afterId})`);
      }
      return [
        ...(await pool.any(sql.type(tenantRow)`
          ${selectTenant} WHERE ${sql.join(conditions, sql.fragment` AND `)}
          ORDER BY t.created_at, t.id LIMIT ${filter.limit}`)),
      ];
    },

    /** Moves a tenant to `to` only from one of `from`; returns whether it moved. */
    async transition(
      id: string,
      from: readonly TenantStatus[],
      to: TenantStatus,
      reason: string | null = null,
      db: CommonQueryMethods = pool,
    ): Promise<boolean> {
      const result = await db.query(sql.typeAlias('void')`
        UPDATE tenants
           SET status = ${to}, status_reason = ${reason}, updated_at = now(),
               deleted_at = CASE WHEN ${to} = 'deleted' THEN now() ELSE deleted_at END
         WHERE id = ${id} AND status = ANY(${sql.array([...from], 'text')})`);
      return result.rowCount > 0;
    },

    async update(
      id: string,
      patch: { plan?: string; displayName?: string | null; domain?: string | null; status?: TenantStatus },
      db: CommonQueryMethods = pool,
    ): Promise<void> {
      const sets = [sql.fragment`updated_at = now()`];
      if (patch.plan !== undefined) sets.push(sql.fragment`plan = ${patch.plan}`);
      if (patch.displayName !== undefined) sets.push(sql.fragment`display_name = ${patch.displayName}`);
      if (patch.domain !== undefined) sets.push(sql.fragment`domain = ${patch.domain}`);
      if (patch.status !== undefined) {
        sets.push(sql.fragment`status = ${patch.status}`, sql.fragment`status_reason = NULL`);
      }
      try {
        await db.query(sql.typeAlias('void')`UPDATE tenants SET ${sql.join(sets, sql.fragment`, `)} WHERE id = ${id}`);
      } catch (error) {
        if (error instanceof UniqueIntegrityConstraintViolationError) {
          throw conflict('a tenant with this domain already exists', [{ field: 'domain' }]);
        }
        if (error instanceof ForeignKeyIntegrityConstraintViolationError) throw validationFailed(`plan "${patch.plan}" does not exist`);
        throw error;
      }
    },

    /** Tenants stuck in a transitional state whose job may have been lost (Redis flushed, API crashed after commit). */
    async stuck(olderThanSeconds: number): Promise<Array<{ id: string; status: TenantStatus }>> {
      return [
        ...(await pool.any(sql.type(z.object({ id: z.string(), status: z.enum(tenantStatuses) }))`
          SELECT id, status FROM tenants
           WHERE status IN ('provisioning', 'deprovisioning')
             AND updated_at < now() - make_interval(secs => ${olderThanSeconds})`)),
      ];
    },
  };
  return repository;
}

export type TenantsRepository = ReturnType<typeof createTenantsRepository>;

