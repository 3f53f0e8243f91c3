import { sql, type DatabasePool } from '@deeplens/shared';
import { z } from 'zod';

const monthUsageRow = z.object({
  api_calls: z.number(),
  storage_bytes: z.number().nullable(),
  collection_count: z.number().nullable(),
});
export type MonthUsage = z.infer<typeof monthUsageRow>;

/** A tenant's usage as PostgreSQL, the truth, records it: the monthly counters. */
export function createUsageRepository(pool: DatabasePool) {
  return {
    /**
     * A month's API calls (0 before the first), and the storage and
     * collections levels: the latest measurement taken in or before that
     * month (null when none was ever taken).
     */
    async month(tenantId: string, period: string): Promise<MonthUsage> {
      return pool.one(sql.type(monthUsageRow)`
        SELECT coalesce((SELECT api_calls FROM usage_counters
                          WHERE tenant_id = ${tenantId} AND period = ${period}::date), 0)::bigint AS api_calls,
               r.storage_bytes, r.collection_count
          FROM (SELECT 1) AS one
          LEFT JOIN LATERAL (
            SELECT storage_bytes, collection_count FROM usage_counters
             WHERE tenant_id = ${tenantId} AND period <= ${period}::date AND resources_measured_at IS NOT NULL
             ORDER BY period DESC LIMIT 1) r ON true`);
    },
  };
}
