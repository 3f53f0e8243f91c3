import { apiCallEvent, type ServiceProcess, startService, testEnv } from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../services/api/test/helpers.js';
import { openPlatform, postEvents, quotaOf, usageOf, waitForJobs, type Platform } from './usage.fixtures.js';

const env = testEnv();
let api: TestApi;
let platform: Platform;
const started: ServiceProcess[] = [];

beforeAll(async () => {
  [api, platform] = await Promise.all([startTestApi(env), openPlatform(env)]);
});

afterAll(async () => {
  await Promise.all(started.map((service) => service.stop()));
  await api?.close();
  await platform?.close();
});

/** An aggregator that kills itself with SIGKILL when it reaches the failpoint, mid-batch. */
async function aggregatorDyingAt(failpoint: string) {
  const service = await startService('usage-aggregator', { ...env, DEEPLENS_FAILPOINTS: failpoint });
  started.push(service);
  return service;
}

const countedFor = (tenants: string[]) =>
  platform.count('SELECT count(*) AS n FROM usage_event_keys WHERE tenant_id = ANY($1)', [tenants]);

describe('usage aggregator crashes', () => {
  it('loses and doubles nothing when killed -9 before and after a batch commits, then restarted', async () => {
    const tenants = await platform.insertTenants(3);
    const batches = tenants.map((tenantId) => Array.from({ length: 1_000 }, () => apiCallEvent(tenantId)));

    // 1. Killed inside the transaction: PostgreSQL rolls the batch back, keys and all.
    const first = await aggregatorDyingAt('usage.before-commit');
    const jobIds = await postEvents(api, batches);
    await first.exited;
    expect(first.child.signalCode).toBe('SIGKILL');
    expect(first.output.join('\n')).toContain('failpoint usage.before-commit reached');
    expect(await countedFor(tenants)).toBe(0);

    // 2. Killed right after a commit, before Redis heard of it: that batch is counted, whole.
    const second = await aggregatorDyingAt('usage.after-commit');
    await second.exited;
    expect(second.child.signalCode).toBe('SIGKILL');
    const afterSecond = await countedFor(tenants);
    expect(afterSecond).toBeGreaterThan(0);
    expect(afterSecond % 1_000).toBe(0);

    // 3. A healthy aggregator takes the stalled jobs over and finishes them.
    started.push(await startService('usage-aggregator', env));
    const jobs = await waitForJobs(api, jobIds);
    expect(jobs.reduce((sum, job) => sum + job.result.counted, 0)).toBe(3_000 - afterSecond);

    for (const tenantId of tenants) {
      expect((await usageOf(api, tenantId)).apiCalls.used).toBe(1_000);
      // The batch committed before the crash was never mirrored then; its retry mirrored PostgreSQL's value.
      expect((await quotaOf(api, tenantId)).apiCalls.used).toBe(1_000);
    }
    expect(await countedFor(tenants)).toBe(3_000);
    expect(await platform.count('SELECT count(*) AS n FROM api_usage_logs WHERE tenant_id = ANY($1)', [tenants])).toBe(
      3_000,
    );
    expect(
      await platform.count('SELECT count(DISTINCT event_id) AS n FROM api_usage_logs WHERE tenant_id = ANY($1)', [
        tenants,
      ]),
    ).toBe(3_000);
  });
});
