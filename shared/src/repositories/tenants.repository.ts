import type { CommonQueryMethods, DatabasePool } from 'slonik';
import { ForeignKeyIntegrityConstraintViolationError, UniqueIntegrityConstraintViolationError } from 'slonik';
import { z } from 'zod';
import type { Static } from '@sinclair/typebox';
import { sql } from '../db/sql.js';
import type { JsonText } from '../schemas/http/common.js';
import type { tenantSchema } from '../schemas/http/tenants.js';
import { conflict, notFound, validationFailed } from '../errors.js';

const tenantStatuses = ['provisioning', 'active', 'failed', 'suspended', 'deprovisioning', 'deleted'] as const;
export type TenantStatus = (typeof tenantStatuses)[number];

/** A tenant as the services decide on it (its view for clients is composed in SQL, below). */
const tenantRow = z.object({
  id: z.string(),
  name: z.string(),
  plan: z.string(),
  status: z.enum(tenantStatuses),
  storage_bytes_limit: z.number(),
  api_calls_limit: z.number(),
  max_collections_limit: z.number(),
});
export type TenantRow = z.infer<typeof tenantRow>;

/** The contract's tenant object (`Tenant` in the HTTP spec), as JSON text. */
export type TenantViewJson = JsonText<Static<typeof tenantSchema>>;

/** Limits as the tenant_effective_limits view (migration 0012) gives them: the tenant's override, else its plan's. */
const selectTenant = sql.fragment`
  SELECT t.id, t.name, t.plan, t.status,
         l.storage_bytes AS storage_bytes_limit,
         l.api_calls_per_month AS api_calls_limit,
         l.max_collections AS max_collections_limit
    FROM tenants t
    JOIN tenant_effective_limits l ON l.tenant_id = t.id`;

/** An instant as the contract writes it, and as Date#toISOString would: UTC, milliseconds (truncated), Z. */
const isoInstant = (column: string[]) =>
  sql.fragment`to_char(${sql.identifier(column)} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * The contract's tenant object, composed by PostgreSQL as JSON text, for every
 * answer that shows a tenant. Parsing, validating, reshaping and serialising
 * the rows of a page in the API had cost about three times the query; composed
 * here, a page of 50 at 1,000 tenants goes out a fifth faster on two shared
 * cores (BENCHMARKS.md, scale). Field names and nesting are the schema's; a
 * test compares the text with it.
 */
const selectTenantView = sql.fragment`
  SELECT t.id, row_to_json(v)::text AS view
    FROM tenants t
    JOIN tenant_effective_limits l ON l.tenant_id = t.id
    LEFT JOIN tenant_storage_configs s ON s.tenant_id = t.id
    CROSS JOIN LATERAL (
      SELECT t.id, t.name, t.display_name AS "displayName", t.domain, t.plan, t.status, t.status_reason AS "statusReason",
             (SELECT row_to_json(lim) FROM (
                SELECT l.storage_bytes AS "storageBytes", l.api_calls_per_month AS "apiCallsPerMonth",
                       l.max_collections AS "maxCollections") lim) AS limits,
             -- ARRAY(…) keeps the index's order; json_agg(… ORDER BY) sorted each tenant's rows again
             -- (10-15 % of the page's cost in PostgreSQL, pgbench at 1,000 tenants).
             array_to_json(ARRAY(
               SELECT d FROM (SELECT d.db_type AS type, d.database_name AS name
                                FROM tenant_databases d
                               WHERE d.tenant_id = t.id AND d.dropped_at IS NULL
                               ORDER BY d.db_type) d)) AS databases,
             CASE WHEN s.provider IS NOT NULL THEN (SELECT row_to_json(st) FROM (
                SELECT s.provider, coalesce(s.status, 'unverified') AS status,
                       ${isoInstant(['s', 'last_tested_at'])} AS "lastTestedAt",
                       CASE WHEN s.last_error IS NOT NULL
                            THEN json_build_object('code', s.last_error->>'code', 'message', s.last_error->>'message') END AS "lastError") st)
             END AS storage,
             ${isoInstant(['t', 'created_at'])} AS "createdAt",
             ${isoInstant(['t', 'updated_at'])} AS "updatedAt") v`;

const tenantViewRow = z.object({ id: z.string(), view: z.string() });

/** One tenant by id, or by name: a name belongs to at most one live tenant, and after deletion may name several past ones (the newest is shown). */
const oneTenant = (idOrName: string) =>
  isUuid(idOrName)
    ? sql.fragment`WHERE t.id = ${idOrName}`
    : sql.fragment`WHERE t.name = ${idOrName} ORDER BY (t.status = 'deleted'), t.created_at DESC LIMIT 1`;

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
        if (error instanceof ForeignKeyIntegrityConstraintViolationError)
          throw validationFailed(`plan "${tenant.plan}" does not exist`);
        throw error;
      }
    },

    async find(idOrName: string, db: CommonQueryMethods = pool): Promise<TenantRow | null> {
      return db.maybeOne(sql.type(tenantRow)`${selectTenant} ${oneTenant(idOrName)}`);
    },

    /** Like find, but an unknown tenant is the contract's 404. */
    async get(idOrName: string, db: CommonQueryMethods = pool): Promise<TenantRow> {
      const row = await repository.find(idOrName, db);
      if (!row) throw notFound(`no tenant "${idOrName}"`);
      return row;
    },

    /** The tenant as the contract shows it; an unknown tenant is the contract's 404. */
    async getView(idOrName: string): Promise<TenantViewJson> {
      const row = await pool.maybeOne(sql.type(tenantViewRow)`${selectTenantView} ${oneTenant(idOrName)}`);
      if (!row) throw notFound(`no tenant "${idOrName}"`);
      return row.view;
    },

    /** A page of tenants as the contract shows them, oldest first, with the id each page's cursor is made of. */
    async listViews(filter: ListFilter): Promise<Array<{ id: string; view: TenantViewJson }>> {
      const conditions = [sql.fragment`TRUE`];
      if (filter.plan) conditions.push(sql.fragment`t.plan = ${filter.plan}`);
      if (filter.status) conditions.push(sql.fragment`t.status = ${filter.status}`);
      if (filter.afterId) {
        // Compared in the database at full precision: timestamps reach us rounded to milliseconds.
        conditions.push(
          sql.fragment`(t.created_at, t.id) > (SELECT created_at, id FROM tenants WHERE id = ${filter.afterId})`,
        );
      }
      return [
        ...(await pool.any(sql.type(tenantViewRow)`
          ${selectTenantView} WHERE ${sql.join(conditions, sql.fragment` AND `)}
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
        if (error instanceof ForeignKeyIntegrityConstraintViolationError)
          throw validationFailed(`plan "${patch.plan}" does not exist`);
        throw error;
      }
    },

    /** The status of each of these tenants that exists, in one query. */
    async statusesOf(ids: readonly string[]): Promise<Array<{ id: string; status: TenantStatus }>> {
      return [
        ...(await pool.any(sql.type(z.object({ id: z.string(), status: z.enum(tenantStatuses) }))`
          SELECT id, status FROM tenants WHERE id = ANY(${sql.array([...ids], 'uuid')})`)),
      ];
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
