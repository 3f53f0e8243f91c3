import {
  BoundedMap,
  isMonth,
  isUuid,
  loadTenantQuotaStates,
  monthOf,
  notFound,
  periodDate,
  publishTenantQuotaStates,
  quotaAnswer,
  readQuotaSnapshot,
  TRANSITIONAL_STATUSES,
  validationFailed,
  type DatabasePool,
  type MeteringRedis,
  type QuotaAnswer,
  type TenantsRepository,
  type UsageView,
} from '@deeplens/shared';
import { createUsageRepository } from '../repositories/usage.repository.js';

export interface UsageServiceDeps {
  pool: DatabasePool;
  tenants: TenantsRepository;
  metering: MeteringRedis;
  /** How long a quota snapshot read from Redis answers further checks of that tenant in this replica; 0 reads every time. */
  quotaCacheMs: number;
}

type Snapshot = Awaited<ReturnType<typeof readQuotaSnapshot>>;

/**
 * The last few hundred milliseconds' quota snapshots, per tenant. Other
 * services ask before every request they serve, so a busy tenant is asked
 * about thousands of times a second; within the window they share one Redis
 * read. Counters already trail the calls by the aggregation delay, so the
 * window changes what a caller can observe by at most that much.
 */
export class SnapshotCache {
  private readonly entries: BoundedMap<string, { until: number; snapshot: Snapshot }>;

  constructor(
    private readonly ttlMs: number,
    maxEntries = 50_000,
  ) {
    this.entries = new BoundedMap(maxEntries);
  }

  async get(tenantId: string, now: number, read: () => Promise<Snapshot>): Promise<Snapshot> {
    if (this.ttlMs <= 0) return read();
    const hit = this.entries.get(tenantId);
    if (hit && hit.until > now) return hit.snapshot;
    const snapshot = await read();
    this.entries.set(tenantId, { until: now + this.ttlMs, snapshot });
    return snapshot;
  }

  forget(tenantId: string): void {
    this.entries.delete(tenantId);
  }
}

export function createUsageService({ pool, tenants, metering, quotaCacheMs }: UsageServiceDeps) {
  const snapshots = new SnapshotCache(quotaCacheMs);
  const counters = createUsageRepository(pool);
  return {
    /**
     * A month's usage from PostgreSQL, the truth. Storage and collections are
     * levels: the latest measurement taken in or before that month.
     */
    async usage(idOrName: string, month: string | undefined, now = new Date()): Promise<UsageView> {
      const wanted = month ?? monthOf(now);
      if (!isMonth(wanted))
        throw validationFailed('month must be YYYY-MM', [{ field: 'querystring.month', message: 'must be YYYY-MM' }]);
      const tenant = await tenants.get(idOrName);
      const usage = await counters.month(tenant.id, periodDate(wanted));
      const limit = tenant.api_calls_limit;
      return {
        tenantId: tenant.id,
        month: wanted,
        plan: tenant.plan,
        apiCalls: { used: usage.api_calls, limit, remaining: Math.max(0, limit - usage.api_calls) },
        storage: { usedBytes: usage.storage_bytes ?? 0, limitBytes: tenant.storage_bytes_limit },
        collections: { used: usage.collection_count ?? 0, limit: tenant.max_collections_limit },
      };
    },

    /**
     * The hot path: one Redis round trip (tenant state and this month's
     * counter), no PostgreSQL. Only a tenant Redis does not know yet, or one
     * still shown in a transition (the provisioner's own publish is best
     * effort), is read from PostgreSQL, and published so the next check is
     * fast again.
     */
    async quota(idOrName: string, now = new Date()): Promise<QuotaAnswer> {
      let tenantId = idOrName;
      if (!isUuid(idOrName)) {
        tenantId = (await tenants.get(idOrName)).id;
      }
      const snapshot = await snapshots.get(tenantId, now.getTime(), () => readQuotaSnapshot(metering, tenantId, now));
      let state = snapshot.state;
      if (!state || TRANSITIONAL_STATUSES.has(state.status)) {
        snapshots.forget(tenantId);
        const [fresh] = await loadTenantQuotaStates(pool, { ids: [tenantId] });
        if (!fresh) throw notFound(`no tenant "${idOrName}"`);
        await publishTenantQuotaStates(metering, [fresh]);
        state = fresh;
      }
      return quotaAnswer(state, snapshot.used, now);
    },
  };
}

export type UsageService = ReturnType<typeof createUsageService>;
