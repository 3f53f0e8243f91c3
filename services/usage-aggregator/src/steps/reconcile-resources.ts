import {
  monthOf,
  periodDate,
  sql,
  type DatabasePool,
  type Logger,
  type Outbox,
  type TenantPools,
} from '@deeplens/shared';
import { z } from 'zod';
import { recordThresholdCrossings, type QuotaEventRow } from './quota-events.js';

interface ResourceLevel {
  tenantId: string;
  storageBytes: number;
  imageCount: number;
  collectionCount: number;
}

export interface ResourceReconciliation {
  month: string;
  measured: number;
  failed: Array<{ tenantId: string; database: string; error: string }>;
  quotaEvents: QuotaEventRow[];
}

const measuredRow = z.object({ storage_bytes: z.number(), image_count: z.number(), collection_count: z.number() });

/**
 * Measures one tenant's storage and collections in its own database and
 * records them there in usage_statistics for the month, as the tenant's own
 * login role (the tenant pools' credentials) with the tenant's context set
 * for the transaction: Row Level Security shows it that tenant's rows only.
 */
async function measureTenantDatabase(
  tenantPools: TenantPools,
  tenant: { tenantId: string; database: string; apiCalls: number },
  month: string,
): Promise<ResourceLevel> {
  return tenantPools.use(tenant.database, (pool) =>
    pool.transaction(async (trx) => {
      await trx.query(sql.typeAlias('void')`SELECT FROM set_tenant_context(${tenant.tenantId}, true)`);
      const level = await trx.one(sql.type(measuredRow)`
        SELECT (SELECT coalesce(sum(size_bytes), 0) FROM images WHERE tenant_id = ${tenant.tenantId})::bigint AS storage_bytes,
               (SELECT count(*) FROM images WHERE tenant_id = ${tenant.tenantId})::bigint AS image_count,
               (SELECT count(*) FROM image_collections WHERE tenant_id = ${tenant.tenantId})::int AS collection_count`);
      await trx.query(sql.typeAlias('void')`
        INSERT INTO usage_statistics (tenant_id, period_start, storage_bytes, image_count, collection_count, api_calls, computed_at)
        VALUES (${tenant.tenantId}, ${periodDate(month)}, ${level.storage_bytes}, ${level.image_count},
                ${level.collection_count}, ${tenant.apiCalls}, now())
        ON CONFLICT (tenant_id, period_start) DO UPDATE SET
          storage_bytes = excluded.storage_bytes, image_count = excluded.image_count,
          collection_count = excluded.collection_count, api_calls = excluded.api_calls, computed_at = now()`);
      return {
        tenantId: tenant.tenantId,
        storageBytes: level.storage_bytes,
        imageCount: level.image_count,
        collectionCount: level.collection_count,
      };
    }),
  );
}

/** Writes measured levels into this month's platform counters and records the storage and collection thresholds crossed. */
async function recordResourceLevels(
  pool: DatabasePool,
  outbox: Outbox,
  levels: readonly ResourceLevel[],
  month: string,
): Promise<QuotaEventRow[]> {
  if (levels.length === 0) return [];
  return pool.transaction(async (trx) => {
    await trx.query(sql.typeAlias('void')`
      INSERT INTO usage_counters (tenant_id, period, storage_bytes, image_count, collection_count, resources_measured_at)
      SELECT l.tenant_id, ${periodDate(month)}::date, l.storage_bytes, l.image_count, l.collection_count, now()
        FROM ${sql.unnest(
          [...levels]
            .sort((a, b) => (a.tenantId < b.tenantId ? -1 : 1))
            .map((level) => [level.tenantId, level.storageBytes, level.imageCount, level.collectionCount]),
          ['uuid', 'int8', 'int8', 'int4'],
        )} AS l(tenant_id, storage_bytes, image_count, collection_count)
      ON CONFLICT (tenant_id, period) DO UPDATE SET
        storage_bytes = excluded.storage_bytes, image_count = excluded.image_count,
        collection_count = excluded.collection_count, resources_measured_at = now(), updated_at = now()`);
    const storage = await recordThresholdCrossings(
      trx,
      outbox,
      'storage_bytes',
      levels.map((level) => ({ tenantId: level.tenantId, month, used: level.storageBytes })),
    );
    const collections = await recordThresholdCrossings(
      trx,
      outbox,
      'collections',
      levels.map((level) => ({ tenantId: level.tenantId, month, used: level.collectionCount })),
    );
    return [...storage, ...collections];
  });
}

/**
 * Measures every active or suspended tenant's database, a few at a time (the
 * tenant pools bound the connections anyway), then records the levels in
 * one platform transaction. A database that cannot be measured (dropped by a
 * deprovisioning meanwhile, or down) is reported and skipped.
 */
export async function reconcileResources(
  deps: { pool: DatabasePool; outbox: Outbox; tenantPools: TenantPools; log: Logger; concurrency: number },
  now = new Date(),
): Promise<ResourceReconciliation> {
  const month = monthOf(now);
  const tenants = await deps.pool.any(sql.type(
    z.object({ tenant_id: z.string(), database_name: z.string(), api_calls: z.number() }),
  )`
    SELECT t.id AS tenant_id, d.database_name, coalesce(c.api_calls, 0)::bigint AS api_calls
      FROM tenants t
      JOIN tenant_databases d ON d.tenant_id = t.id AND d.db_type = 'metadata' AND d.dropped_at IS NULL
      LEFT JOIN usage_counters c ON c.tenant_id = t.id AND c.period = ${periodDate(month)}
     WHERE t.status IN ('active', 'suspended')
     ORDER BY t.id`);

  const levels: ResourceLevel[] = [];
  const failed: ResourceReconciliation['failed'] = [];
  const queue = [...tenants];
  await Promise.all(
    Array.from({ length: Math.min(deps.concurrency, queue.length) }, async () => {
      for (let tenant = queue.shift(); tenant; tenant = queue.shift()) {
        try {
          levels.push(
            await measureTenantDatabase(
              deps.tenantPools,
              { tenantId: tenant.tenant_id, database: tenant.database_name, apiCalls: tenant.api_calls },
              month,
            ),
          );
        } catch (error) {
          failed.push({ tenantId: tenant.tenant_id, database: tenant.database_name, error: (error as Error).message });
        }
      }
    }),
  );
  const quotaEvents = await recordResourceLevels(deps.pool, deps.outbox, levels, month);
  return { month, measured: levels.length, failed, quotaEvents };
}
