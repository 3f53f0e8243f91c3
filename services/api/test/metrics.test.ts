import { sql, type DatabasePool } from '@deeplens/shared';
import { uniqueName } from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startTestApi, type TestApi } from './helpers.js';

/**
 * The gauges read on scrape: tenants by plan and status, queue depth, tenants
 * near or over quota. This file's queue prefix is its own and no worker runs,
 * so the queue counts are exact; the database is shared with other files, so
 * tenant counts are compared with what /v1/status says at the same moment.
 */
let api: TestApi;
beforeAll(async () => {
  api = await startTestApi();
});
afterAll(async () => {
  await api?.close();
});

/** `name{labels} value` lines of a Prometheus text answer. */
function samples(text: string, name: string): Array<{ labels: Record<string, string>; value: number }> {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .map((line) => {
      const match = /^[^{ ]+(?:\{(.*)\})? (\S+)$/.exec(line)!;
      const labels = Object.fromEntries(
        [...(match[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((pair) => [pair[1]!, pair[2]!]),
      );
      return { labels, value: Number(match[2]) };
    });
}
const value = (text: string, name: string, labels: Record<string, string>) =>
  samples(text, name).find((sample) => Object.entries(labels).every(([key, wanted]) => sample.labels[key] === wanted))
    ?.value;

async function setApiCalls(pool: DatabasePool, tenantId: string, calls: number) {
  await pool.query(sql.type(z.object({}))`
    INSERT INTO usage_counters (tenant_id, period, api_calls)
    VALUES (${tenantId}, date_trunc('month', now() AT TIME ZONE 'UTC')::date, ${calls})
    ON CONFLICT (tenant_id, period) DO UPDATE SET api_calls = excluded.api_calls`);
}

describe('GET /metrics', () => {
  it('reports queue depth, tenants by plan and status, and tenants near or over quota, read on scrape', async () => {
    const near = await api.call('POST', '/v1/tenants', { body: { name: uniqueName('metrics'), plan: 'free' } });
    const over = await api.call('POST', '/v1/tenants', { body: { name: uniqueName('metrics'), plan: 'free' } });
    expect(near.statusCode).toBe(202);
    expect(over.statusCode).toBe(202);
    // Free plan: 1,000 calls a month. 850 is near (80-99 %), 1,200 is over.
    await setApiCalls(api.deps.pool, near.json().tenantId, 850);
    await setApiCalls(api.deps.pool, over.json().tenantId, 1_200);

    const scrape = await api.call('GET', '/metrics', { token: null });
    expect(scrape.statusCode).toBe(200);
    const text = scrape.body;

    // No worker runs here: both provisioning jobs wait in this file's own queue.
    expect(value(text, 'deeplens_queue_jobs', { queue: 'provisioning', state: 'waiting' })).toBe(2);
    expect(value(text, 'deeplens_queue_jobs', { queue: 'storage', state: 'failed' })).toBe(0);

    expect(value(text, 'deeplens_tenants', { plan: 'free', status: 'provisioning' })).toBeGreaterThanOrEqual(2);
    expect(value(text, 'deeplens_tenants_quota', { limit: 'apiCalls', level: 'near' })).toBeGreaterThanOrEqual(1);
    expect(value(text, 'deeplens_tenants_quota', { limit: 'apiCalls', level: 'over' })).toBeGreaterThanOrEqual(1);
    expect(value(text, 'deeplens_usage_api_calls_month', { plan: 'free' })).toBeGreaterThanOrEqual(2_050);
    expect(value(text, 'deeplens_storage_limit_bytes', { plan: 'free' })).toBeGreaterThan(0);

    // The per-status total agrees with /v1/status, read from the same table.
    const status = (await api.call('GET', '/v1/status')).json();
    const provisioningGauge = samples(text, 'deeplens_tenants')
      .filter((sample) => sample.labels.status === 'provisioning')
      .reduce((sum, sample) => sum + sample.value, 0);
    expect(provisioningGauge).toBeGreaterThanOrEqual(2);
    expect(status.tenants.byStatus.provisioning).toBeGreaterThanOrEqual(2);

    // HTTP latency by route and status, and the process defaults.
    expect(text).toMatch(/deeplens_http_request_duration_seconds_count\{[^}]*route="\/v1\/tenants"[^}]*status="202"/);
    expect(text).toMatch(/^process_cpu_seconds_total/m);
  });
});
