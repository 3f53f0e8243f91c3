import {
  loadTenantQuotaStates,
  mirrorApiCallCounters,
  monthOf,
  periodDate,
  publishTenantQuotaStates,
  readApiCallCounters,
  repairApiCallCounter,
  sql,
  type CounterValue,
  type DatabasePool,
  type MeteringRedis,
} from '@deeplens/shared';
import { z } from 'zod';

export interface CounterReconciliation {
  month: string;
  checked: number;
  /** Counters Redis had wrong (missing, too low or too high) and that were set right. */
  repaired: number;
  /** The sum of |PostgreSQL − Redis| over the repaired counters, in API calls. */
  drift: number;
  /** Tenants whose status, plan or limit in Redis was out of date. */
  statesRepublished: number;
}

const CHUNK = 1_000;

/**
 * Makes Redis agree with PostgreSQL for this month's counters and every
 * tenant's quota state. Redis is read before PostgreSQL: counters only grow
 * in PostgreSQL and Redis only ever receives values PostgreSQL committed, so
 * a Redis value above the later-read PostgreSQL value is real drift, not a
 * race. Too low is raised (never lowering a newer value); too high is set
 * back only if Redis still holds what was read.
 */
export async function reconcileCounters(
  pool: DatabasePool,
  target: MeteringRedis,
  now = new Date(),
): Promise<CounterReconciliation> {
  const month = monthOf(now);
  const period = periodDate(month);
  const tenantIds = await pool.anyFirst(sql.type(z.object({ id: z.string() }))`
    SELECT t.id FROM tenants t WHERE t.status <> 'deleted'
    UNION
    SELECT c.tenant_id FROM usage_counters c WHERE c.period = ${period}`);

  const result: CounterReconciliation = { month, checked: 0, repaired: 0, drift: 0, statesRepublished: 0 };
  for (let start = 0; start < tenantIds.length; start += CHUNK) {
    const ids = tenantIds.slice(start, start + CHUNK);
    const inRedis = await readApiCallCounters(
      target,
      ids.map((tenantId) => ({ tenantId, month })),
    );
    const rows = await pool.any(sql.type(z.object({ tenant_id: z.string(), api_calls: z.number() }))`
      SELECT tenant_id, api_calls FROM usage_counters
       WHERE period = ${period} AND tenant_id = ANY(${sql.array([...ids], 'uuid')})`);
    const inPostgres = new Map(rows.map((row) => [row.tenant_id, row.api_calls]));

    const raise: CounterValue[] = [];
    for (const [index, tenantId] of ids.entries()) {
      const truth = inPostgres.get(tenantId) ?? 0;
      const seen = inRedis[index] ?? null;
      result.checked += 1;
      if ((seen ?? 0) === truth) continue;
      const counter = { tenantId, month, apiCalls: truth };
      if (seen === null || seen < truth) {
        raise.push(counter);
        result.drift += truth - (seen ?? 0);
      } else if (await repairApiCallCounter(target, counter, seen)) {
        result.repaired += 1;
        result.drift += seen - truth;
      }
    }
    if (raise.length) {
      await mirrorApiCallCounters(target, raise, now.getTime());
      result.repaired += raise.length;
    }
  }

  // States the API and the provisioner failed to publish (Redis away at the time), and changes made
  // by hand (a plan edited in SQL), reach Redis here.
  const states = await loadTenantQuotaStates(pool, {
    liveOrChangedSince: new Date(now.getTime() - 7 * 24 * 3600 * 1000),
  });
  for (let start = 0; start < states.length; start += CHUNK) {
    result.statesRepublished += await publishTenantQuotaStates(target, states.slice(start, start + CHUNK));
  }
  return result;
}
