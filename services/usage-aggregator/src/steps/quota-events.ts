import { domainEvent, sql, type DomainEvent, type Outbox, type OutboxKey, type QuotaLimitName } from '@deeplens/shared';
import type { CommonQueryMethods } from 'slonik';
import { z } from 'zod';

/**
 * Quota thresholds: 80 % (quota.warning) and 100 % (quota.exceeded) of a
 * limit, once per tenant, period and limit. The unique row in quota_events,
 * inserted in the transaction that moved the usage, is what makes it once;
 * its event is recorded in the outbox in that transaction, and published
 * after the commit like every other.
 */

export type LimitColumn = 'api_calls' | 'storage_bytes' | 'collections';

const effectiveLimit: Record<LimitColumn, ReturnType<typeof sql.fragment>> = {
  api_calls: sql.fragment`e.api_calls_per_month`,
  storage_bytes: sql.fragment`e.storage_bytes`,
  collections: sql.fragment`e.max_collections`,
};

const limitNames: Record<string, QuotaLimitName> = {
  api_calls: 'apiCalls',
  storage_bytes: 'storageBytes',
  collections: 'collections',
};

const quotaEventRow = z.object({
  id: z.string(),
  tenant_id: z.string(),
  month: z.string(),
  limit_name: z.string(),
  threshold: z.number(),
  used: z.number(),
  limit_value: z.number(),
  emitted_at: z.number(),
});
export type QuotaEventRow = z.infer<typeof quotaEventRow>;

export interface UsageLevel {
  tenantId: string;
  /** YYYY-MM */
  month: string;
  used: number;
}

/**
 * Records the thresholds these levels cross for the first time in their
 * period, and their events in the outbox; returns only those new rows.
 */
export async function recordThresholdCrossings(
  trx: CommonQueryMethods,
  outbox: Outbox,
  limit: LimitColumn,
  levels: readonly UsageLevel[],
): Promise<QuotaEventRow[]> {
  if (levels.length === 0) return [];
  const rows = await trx.any(sql.type(quotaEventRow)`
    INSERT INTO quota_events (id, tenant_id, period, limit_name, threshold, used, limit_value)
    SELECT gen_random_uuid(), u.tenant_id, to_date(u.month, 'YYYY-MM'), ${limit}, th.threshold, u.used, l.value
      FROM ${sql.unnest(
        levels.map((level) => [level.tenantId, level.month, level.used]),
        ['uuid', 'text', 'int8'],
      )} AS u(tenant_id, month, used)
      JOIN tenant_effective_limits e ON e.tenant_id = u.tenant_id
     CROSS JOIN LATERAL (SELECT ${effectiveLimit[limit]}::bigint AS value) l
     CROSS JOIN (VALUES (80), (100)) AS th(threshold)
     WHERE u.used * 100 >= l.value * th.threshold
     ORDER BY u.tenant_id, u.month, th.threshold
    ON CONFLICT (tenant_id, period, limit_name, threshold) DO NOTHING
    RETURNING id, tenant_id, to_char(period, 'YYYY-MM') AS month, limit_name, threshold, used, limit_value, emitted_at`);
  if (rows.length > 0) await outbox.recordEvents(trx, rows.map(toDomainEvent));
  return [...rows];
}

/** The outbox keys of these rows' events, to publish once their transaction has committed. */
export const quotaEventKeys = (rows: readonly QuotaEventRow[]): OutboxKey[] =>
  rows.map((row) => ({ kind: 'event', id: row.id }));

function toDomainEvent(row: QuotaEventRow): DomainEvent {
  return domainEvent(row.threshold >= 100 ? 'quota.exceeded' : 'quota.warning', {
    id: row.id,
    occurredAt: new Date(row.emitted_at).toISOString(),
    tenantId: row.tenant_id,
    data: {
      limit: limitNames[row.limit_name] ?? 'apiCalls',
      threshold: row.threshold >= 100 ? 100 : 80,
      period: row.month,
      used: row.used,
      limitValue: row.limit_value,
    },
  });
}
