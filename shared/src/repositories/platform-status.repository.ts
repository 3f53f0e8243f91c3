import type { CommonQueryMethods } from 'slonik';
import { z } from 'zod';
import { sql } from '../db/sql.js';

const counted = <K extends z.ZodRawShape>(keys: K) => z.array(z.object({ ...keys, n: z.number() }));

const platformCountsRow = z.object({
  /** Every tenant, deleted ones included, by plan and status. */
  tenants: counted({ plan: z.string(), status: z.string() }),
  /** Storage configs of tenants not deleted, by provider and verification status. */
  storage: counted({ provider: z.string(), status: z.string() }),
  /** API calls counted this UTC month, all tenants. */
  api_calls: z.number(),
});
export type PlatformCounts = z.infer<typeof platformCountsRow>;

const quotaLevelRow = z.object({ limit_name: z.string(), level: z.enum(['near', 'over']), n: z.number() });
export type QuotaLevelCount = z.infer<typeof quotaLevelRow>;

const planUsageRow = z.object({
  plan: z.string(),
  api_calls: z.number(),
  storage_bytes: z.number(),
  storage_limit_bytes: z.number(),
});
export type PlanUsage = z.infer<typeof planUsageRow>;

const thisMonth = sql.fragment`date_trunc('month', now() AT TIME ZONE 'UTC')::date`;

/**
 * The platform at a glance, as the status route and the platform gauges read
 * it. Small GROUP BY queries over the registry and this month's counters (one
 * row per tenant); nothing here is per tenant.
 */
export function createPlatformStatusRepository(db: CommonQueryMethods) {
  return {
    /**
     * Tenants, storage configs and this month's API calls in one statement, so
     * a caller holds one pooled connection: three queries in parallel queued
     * behind each other under a dashboard's polling.
     */
    async counts(): Promise<PlatformCounts> {
      return db.one(sql.type(platformCountsRow)`
        SELECT
          (SELECT coalesce(json_agg(x), '[]') FROM (
             SELECT plan, status, count(*)::int AS n FROM tenants GROUP BY plan, status) x) AS tenants,
          (SELECT coalesce(json_agg(x), '[]') FROM (
             SELECT s.provider, s.status, count(*)::int AS n
               FROM tenant_storage_configs s JOIN tenants t ON t.id = s.tenant_id
              WHERE t.status <> 'deleted'
              GROUP BY s.provider, s.status) x) AS storage,
          (SELECT coalesce(sum(api_calls), 0)::bigint FROM usage_counters WHERE period = ${thisMonth}) AS api_calls`);
    },

    /** Tenants not deleted at 80 % or more of a limit this month: "near" below 100 %, "over" at or above it. */
    async quotaLevels(): Promise<readonly QuotaLevelCount[]> {
      return db.any(sql.type(quotaLevelRow)`
        WITH usage AS (
          SELECT c.api_calls::numeric AS api_calls, coalesce(c.storage_bytes, 0)::numeric AS storage_bytes,
                 coalesce(c.collection_count, 0)::numeric AS collections,
                 l.api_calls_per_month::numeric AS api_calls_limit,
                 l.storage_bytes::numeric AS storage_limit,
                 l.max_collections::numeric AS collections_limit
            FROM usage_counters c
            JOIN tenants t ON t.id = c.tenant_id AND t.status <> 'deleted'
            JOIN tenant_effective_limits l ON l.tenant_id = t.id
           WHERE c.period = ${thisMonth}
        ), ratios AS (
          SELECT 'apiCalls' AS limit_name, api_calls / nullif(api_calls_limit, 0) AS ratio FROM usage
          UNION ALL SELECT 'storageBytes', storage_bytes / nullif(storage_limit, 0) FROM usage
          UNION ALL SELECT 'collections', collections / nullif(collections_limit, 0) FROM usage
        )
        SELECT limit_name, CASE WHEN ratio >= 1 THEN 'over' ELSE 'near' END AS level, count(*)::int AS n
          FROM ratios WHERE ratio >= 0.8
         GROUP BY 1, 2`);
    },

    /** This month's API calls and storage, and the sum of storage limits, of tenants not deleted, by plan. */
    async usageByPlan(): Promise<readonly PlanUsage[]> {
      return db.any(sql.type(planUsageRow)`
        SELECT t.plan,
               coalesce(sum(c.api_calls), 0)::float8 AS api_calls,
               coalesce(sum(c.storage_bytes), 0)::float8 AS storage_bytes,
               sum(l.storage_bytes)::float8 AS storage_limit_bytes
          FROM tenants t
          JOIN tenant_effective_limits l ON l.tenant_id = t.id
          LEFT JOIN usage_counters c ON c.tenant_id = t.id AND c.period = ${thisMonth}
         WHERE t.status <> 'deleted'
         GROUP BY t.plan`);
    },

    /** Resolves when the database answers a trivial query (readiness). */
    async ping(): Promise<void> {
      await db.oneFirst(sql.type(z.object({ ok: z.number() }))`SELECT 1 AS ok`);
    },
  };
}
