import { randomUUID } from 'node:crypto';
import { usageIngestPayloadOf } from '@deeplens/shared';
import {
  apiCallEvent,
  enqueueJob,
  type ServiceProcess,
  startService,
  testEnv,
  waitFor,
} from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../services/api/test/helpers.js';
import { openPlatform, postEvents, waitForJobs, type Platform } from './usage.fixtures.js';

/**
 * The aggregator counts the usage.ingest jobs it holds at once in one
 * statement (group commit). A job whose events PostgreSQL refuses must fail
 * alone: the jobs it was grouped with are counted, exactly once, and none of
 * its own events are.
 */
const env = testEnv();
let api: TestApi;
let platform: Platform;
let aggregator: ServiceProcess | undefined;
const POISON = randomUUID();

beforeAll(async () => {
  [api, platform] = await Promise.all([startTestApi(env), openPlatform(env)]);
  // PostgreSQL refusing one event stands in for anything that fails one job's rows.
  await platform.client.query(`
    CREATE OR REPLACE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.event_id = '${POISON}' THEN RAISE EXCEPTION 'poisoned event'; END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER refuse_poison BEFORE INSERT ON usage_event_keys FOR EACH ROW EXECUTE FUNCTION refuse_poison();`);
});

afterAll(async () => {
  await aggregator?.stop();
  await platform?.client.query(
    'DROP TRIGGER IF EXISTS refuse_poison ON usage_event_keys; DROP FUNCTION IF EXISTS refuse_poison()',
  );
  await api?.close();
  await platform?.close();
});

describe('usage aggregator group commit', () => {
  it('counts grouped jobs together, and a job PostgreSQL refuses fails alone', async () => {
    const tenants = await platform.insertTenants(3);
    const batches = Array.from({ length: 12 }, (_, index) =>
      Array.from({ length: 10 }, (_, n) =>
        apiCallEvent(tenants[index % 3]!, index === 7 && n === 4 ? { eventId: POISON } : {}),
      ),
    );
    // One request at a time, so each is its own job; they wait in the queue for the aggregator.
    const jobIds: string[] = [];
    for (const batch of batches) jobIds.push(...(await postEvents(api, [batch])));
    expect(new Set(jobIds).size).toBe(12);
    const poisonJob = jobIds[7]!;
    const goodJobs = jobIds.filter((id) => id !== poisonJob);

    // The first commit lingers, so the other jobs are fetched meanwhile and grouped behind it.
    aggregator = await startService('usage-aggregator', {
      ...env,
      DEEPLENS_FAILPOINTS: 'usage.before-commit:delay=400',
    });
    const finished = await waitForJobs(api, goodJobs);
    expect(finished.map((job) => job.result)).toEqual(goodJobs.map(() => ({ events: 10, counted: 10, duplicates: 0 })));
    await waitFor(
      async () => (aggregator!.output.join('\n').includes('counting its jobs one by one') ? true : undefined),
      {
        what: 'a grouped commit that held the poisoned job',
      },
    );

    const poison = await api.call('GET', `/v1/jobs/${poisonJob}`);
    expect(poison.json().state).not.toBe('completed');
    expect(poison.json().error?.message ?? '').not.toContain('poisoned event'); // the database's words stay in the log
    expect(
      await platform.count('SELECT count(*) AS n FROM usage_event_keys WHERE tenant_id = ANY($1)', [tenants]),
    ).toBe(110);
    expect(await platform.count('SELECT count(*) AS n FROM api_usage_logs WHERE tenant_id = ANY($1)', [tenants])).toBe(
      110,
    );
    expect(
      await platform.count('SELECT coalesce(sum(api_calls), 0) AS n FROM usage_counters WHERE tenant_id = ANY($1)', [
        tenants,
      ]),
    ).toBe(110);
  });

  it('lets small jobs that arrive one by one within the group linger share one statement', async () => {
    await aggregator?.stop();
    // The poisoned job of the test before retries meanwhile: it must not fail (and split) this group.
    await platform.client.query('DROP TRIGGER IF EXISTS refuse_poison ON usage_event_keys');
    const [tenantId] = await platform.insertTenants(1);
    aggregator = await startService('usage-aggregator', { ...env, DEEPLENS_USAGE_GROUP_LINGER_MS: '1000' });
    // Ten one-event jobs, as single-event requests make them, each added only once the aggregator
    // has taken the one before (it is active, held by the open group): without the linger each
    // would find the aggregator idle and commit alone.
    const jobIds: string[] = [];
    for (let n = 0; n < 10; n += 1) {
      const jobId = await enqueueJob(env, 'usage.ingest', usageIngestPayloadOf([apiCallEvent(tenantId!)]));
      jobIds.push(jobId);
      await waitFor(
        async () => ((await api.call('GET', `/v1/jobs/${jobId}`)).json().state === 'active' ? true : undefined),
        {
          intervalMs: 10,
          what: `job ${jobId} taken by the aggregator`,
        },
      );
    }
    const finished = await waitForJobs(api, jobIds);
    expect(finished.map((job) => job.result)).toEqual(jobIds.map(() => ({ events: 1, counted: 1, duplicates: 0 })));
    // received_at is its transaction's start, so each value is one statement (two if this machine
    // took over a second to add the ten).
    expect(
      await platform.count('SELECT count(DISTINCT received_at) AS n FROM api_usage_logs WHERE tenant_id = $1', [
        tenantId,
      ]),
    ).toBeLessThanOrEqual(2);
  });
});
