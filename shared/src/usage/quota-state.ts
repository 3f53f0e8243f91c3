import type { CommonQueryMethods } from 'slonik';
import { z } from 'zod';
import { sql } from '../db/sql.js';
import type { JobProducer } from '../queues/producer.js';
import { meteringKeys, meteringRedisOf, withMeteringScripts, type MeteringRedis } from './metering-redis.js';
import { monthOf, nextMonthStartOf } from './periods.js';

/**
 * What the quota check needs to know about a tenant besides its counter:
 * status, plan and API-call limit, versioned by the tenant row's updated_at
 * so an older write never overwrites a newer one. Published when the API
 * creates or changes a tenant, and by the aggregator's reconciliation for
 * changes made elsewhere (the provisioner's transitions, edits of `plans`).
 */
export interface TenantQuotaState {
  tenantId: string;
  status: string;
  plan: string;
  apiCallsLimit: number;
  /** The tenant row's updated_at, in ms. */
  version: number;
}

/** States the provisioner leaves without telling the API: readers re-check these in PostgreSQL. */
export const TRANSITIONAL_STATUSES: ReadonlySet<string> = new Set(['provisioning', 'deprovisioning']);

const DELETED_STATE_TTL_MS = 35 * 24 * 60 * 60 * 1000;

const stateRow = z.object({
  tenant_id: z.string(),
  status: z.string(),
  plan: z.string(),
  api_calls_limit: z.number(),
  version: z.number(),
});

const toState = (row: z.infer<typeof stateRow>): TenantQuotaState => ({
  tenantId: row.tenant_id,
  status: row.status,
  plan: row.plan,
  apiCallsLimit: row.api_calls_limit,
  version: row.version,
});

const selectStates = sql.fragment`
  SELECT t.id AS tenant_id, t.status, t.plan, l.api_calls_per_month AS api_calls_limit, t.updated_at AS version
    FROM tenants t JOIN tenant_effective_limits l ON l.tenant_id = t.id`;

/** The quota state of the given tenants, or of every tenant not deleted or changed since the given instant. */
export async function loadTenantQuotaStates(
  db: CommonQueryMethods,
  filter: { ids: readonly string[] } | { liveOrChangedSince: Date },
): Promise<TenantQuotaState[]> {
  const where =
    'ids' in filter
      ? sql.fragment`t.id = ANY(${sql.array([...filter.ids], 'uuid')})`
      : sql.fragment`(t.status <> 'deleted' OR t.updated_at >= ${sql.timestamp(filter.liveOrChangedSince)})`;
  const rows = await db.any(sql.type(stateRow)`${selectStates} WHERE ${where}`);
  return rows.map(toState);
}

/** Writes states to Redis in one round trip; returns how many changed status, plan or limit. */
export async function publishTenantQuotaStates(
  target: MeteringRedis,
  states: readonly TenantQuotaState[],
): Promise<number> {
  if (states.length === 0) return 0;
  const keys = meteringKeys(target.prefix);
  const redis = withMeteringScripts(target.redis);
  const pipeline = redis.pipeline() as unknown as Record<string, (...args: Array<string | number>) => unknown> & {
    exec(): Promise<Array<[Error | null, unknown]> | null>;
  };
  for (const state of states) {
    pipeline.meteringPublishTenant!(
      keys.tenant(state.tenantId),
      keys.tenantChanged,
      String(state.version),
      state.status,
      state.plan,
      String(state.apiCallsLimit),
      state.tenantId,
      String(DELETED_STATE_TTL_MS),
    );
  }
  const results = (await pipeline.exec()) ?? [];
  let changed = 0;
  for (const [error, value] of results) {
    if (error) throw error;
    changed += Number(value);
  }
  return changed;
}

type Target = MeteringRedis | JobProducer;
const resolve = async (target: Target): Promise<MeteringRedis> =>
  'redis' in target ? target : meteringRedisOf(target);

/**
 * Reads a tenant's state from PostgreSQL and publishes it, after the API or
 * the provisioner committed a change to it, so a plan change, a suspension,
 * an activation or a deletion takes effect at the next quota check. Best
 * effort: the change is already committed, and if Redis does not answer now
 * the aggregator's reconciliation publishes it within its interval.
 * Returns whether Redis took it.
 */
export async function refreshTenantQuotaState(
  db: CommonQueryMethods,
  target: Target,
  tenantId: string,
): Promise<boolean> {
  try {
    const states = await loadTenantQuotaStates(db, { ids: [tenantId] });
    await publishTenantQuotaStates(await resolve(target), states);
    return true;
  } catch {
    return false;
  }
}

/** The quota state and this month's counter of a tenant, in one round trip; state null when Redis has none. */
export async function readQuotaSnapshot(
  { redis, prefix }: MeteringRedis,
  tenantId: string,
  now: Date,
): Promise<{ state: TenantQuotaState | null; used: number }> {
  const keys = meteringKeys(prefix);
  const results =
    (await redis
      .pipeline()
      .hmget(keys.tenant(tenantId), 'status', 'plan', 'apiCallsLimit', 'version')
      .get(keys.apiCalls(tenantId, monthOf(now)))
      .exec()) ?? [];
  for (const [error] of results) if (error) throw error;
  const [status, plan, limit, version] = results[0]![1] as Array<string | null>;
  const counter = results[1]![1] as string | null;
  const used = counter === null ? 0 : Number(counter);
  if (status == null || plan == null || limit == null || version == null) return { state: null, used };
  return { state: { tenantId, status, plan, apiCallsLimit: Number(limit), version: Number(version) }, used };
}

export interface QuotaAnswer {
  allowed: boolean;
  apiCalls: { used: number; limit: number; remaining: number };
  resetsAt: string;
}

/** The contract's quota answer: allowed while the tenant is active and below its limit. */
export function quotaAnswer(state: TenantQuotaState, used: number, now: Date): QuotaAnswer {
  const limit = state.apiCallsLimit;
  return {
    allowed: state.status === 'active' && used < limit,
    apiCalls: { used, limit, remaining: Math.max(0, limit - used) },
    resetsAt: nextMonthStartOf(now),
  };
}
