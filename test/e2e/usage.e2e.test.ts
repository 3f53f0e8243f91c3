import {
  meteringKeys,
  platformNames,
  tenantLoginRoleName,
  withClient,
  withDatabase,
  withTemplateLock,
} from '@deeplens/shared';
import {
  apiCallEvent,
  makeTenantLogin,
  seededRandom,
  type ServiceProcess,
  shuffle,
  startService,
  testEnv,
  testSeed,
  waitFor,
} from '@deeplens/shared/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../services/api/test/helpers.js';
import {
  domainEventsOf,
  monthOfDate,
  openPlatform,
  postEvents,
  quotaOf,
  usageOf,
  waitForJobs,
  type Platform,
} from './usage.fixtures.js';

// Reconciliation and measurement every few hundred ms, so the tests can wait for them by polling.
const env = testEnv({
  DEEPLENS_USAGE_RECONCILE_INTERVAL_MS: '300',
  DEEPLENS_USAGE_RESOURCES_INTERVAL_MS: '300',
  DEEPLENS_USAGE_MAINTENANCE_INTERVAL_MS: '500',
});
let api: TestApi;
let aggregator: ServiceProcess;
let platform: Platform;
let redis: Redis;

beforeAll(async () => {
  [api, aggregator, platform] = await Promise.all([
    startTestApi(env),
    startService('usage-aggregator', env),
    openPlatform(env),
  ]);
  redis = new Redis(env.REDIS_URL!, { maxRetriesPerRequest: 3 });
});

afterAll(async () => {
  redis?.disconnect();
  await aggregator?.stop();
  await api?.close();
  await platform?.close();
});

const chunk = <T>(items: T[], size: number) =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, index) => items.slice(index * size, (index + 1) * size));

describe('usage metering', () => {
  it('counts 10,000 events across 20 tenants exactly, batched, single and repeated', async () => {
    const tenants = await platform.insertTenants(20);
    const expected = tenants.map((_, index) => 50 * index + 25); // 25, 75, …, 975: 10,000 in all
    const events = tenants.flatMap((tenantId, index) =>
      Array.from({ length: expected[index]! }, () => apiCallEvent(tenantId)),
    );
    expect(events.length).toBe(10_000);
    // Arrival order shuffled; DEEPLENS_USAGE_SEED=<printed seed> replays one.
    shuffle(events, seededRandom(testSeed('DEEPLENS_USAGE_SEED')));

    const batched = events.slice(0, 9_000);
    const single = events.slice(9_000);
    const jobIds = await postEvents(api, chunk(batched, 1_000));
    jobIds.push(...(await postEvents(api, single)));
    // The same events again: 500 in one batch, 100 one by one.
    jobIds.push(...(await postEvents(api, [batched.slice(0, 500)])));
    jobIds.push(...(await postEvents(api, single.slice(0, 100))));
    const jobs = await waitForJobs(api, jobIds);
    expect(jobs.reduce((sum, job) => sum + job.result.counted, 0)).toBe(10_000);
    expect(jobs.reduce((sum, job) => sum + job.result.duplicates, 0)).toBe(600);
    expect(new Set(jobIds).size).toBeLessThan(200);

    for (const [index, tenantId] of tenants.entries()) {
      const usage = await usageOf(api, tenantId);
      expect(usage.apiCalls).toEqual({ used: expected[index], limit: 100_000, remaining: 100_000 - expected[index]! });
      expect((await quotaOf(api, tenantId)).apiCalls.used).toBe(expected[index]);
    }
    expect(await platform.count('SELECT count(*) AS n FROM api_usage_logs WHERE tenant_id = ANY($1)', [tenants])).toBe(
      10_000,
    );
    expect(
      await platform.count('SELECT count(DISTINCT event_id) AS n FROM api_usage_logs WHERE tenant_id = ANY($1)', [
        tenants,
      ]),
    ).toBe(10_000);
    const status = (await api.call('GET', '/v1/status')).json();
    expect(status.usage.apiCalls).toBeGreaterThanOrEqual(10_000);
  });

  it('stores every field of an event as it was sent, free text and large byte counts included', async () => {
    const [tenantId] = await platform.insertTenants(1);
    const sent = apiCallEvent(tenantId!, {
      endpoint: '/v1/search?q="猫 café"\\dogs\n{[,]}',
      method: 'patch',
      statusCode: 599,
      durationMs: 2_147_483_647,
      responseBytes: Number.MAX_SAFE_INTEGER,
    });
    delete (sent as { requestBytes?: number }).requestBytes;
    const [job] = await waitForJobs(api, await postEvents(api, [sent]));
    expect(job!.result).toEqual({ events: 1, counted: 1, duplicates: 0 });
    const { rows } = await platform.client.query(
      `SELECT tenant_id, endpoint, method, status_code, duration_ms, request_bytes::text, response_bytes::text, occurred_at
         FROM api_usage_logs WHERE event_id = $1`,
      [sent.eventId],
    );
    expect(rows).toEqual([
      {
        tenant_id: tenantId,
        endpoint: sent.endpoint,
        method: 'patch',
        status_code: 599,
        duration_ms: 2_147_483_647,
        request_bytes: '0',
        response_bytes: String(Number.MAX_SAFE_INTEGER),
        occurred_at: new Date(sent.occurredAt as string),
      },
    ]);
  });

  it('counts a sub-millisecond instant in its own month, and the same events sent again count nothing', async () => {
    const [tenantId] = await platform.insertTenants(1);
    const now = new Date();
    const lastInstantBefore = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1) - 1);
    const [previous, current] = [monthOfDate(lastInstantBefore), monthOfDate(now)];
    const events = [
      apiCallEvent(tenantId!),
      // PostgreSQL alone would round this into the current month.
      apiCallEvent(tenantId!, { occurredAt: `${lastInstantBefore.toISOString().slice(0, 10)}T23:59:59.9999999Z` }),
    ];
    const [job] = await waitForJobs(api, await postEvents(api, [events]));
    expect(job).toMatchObject({ state: 'completed', tenantId, result: { events: 2, counted: 2, duplicates: 0 } });
    expect((await usageOf(api, tenantId!, current)).apiCalls.used).toBe(1);
    expect((await usageOf(api, tenantId!, previous)).apiCalls.used).toBe(1);
    const [again] = await waitForJobs(api, await postEvents(api, [events]));
    expect(again!.result).toEqual({ events: 2, counted: 0, duplicates: 2 });
    expect(again!.tenantId).toBe(tenantId);
  });

  it('counts an event at 23:59:59 UTC on the last day of a month in that month', async () => {
    const [tenantId] = await platform.insertTenants(1);
    const now = new Date();
    const monthStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
    const lastDay = new Date(monthStart.getTime() - 1);
    const [previous, current] = [monthOfDate(lastDay), monthOfDate(monthStart)];
    const lastDayDate = lastDay.toISOString().slice(0, 10);
    const atEnd = apiCallEvent(tenantId!, { occurredAt: `${lastDayDate}T23:59:59Z` });
    const inPrevious = [
      atEnd,
      apiCallEvent(tenantId!, { occurredAt: `${lastDayDate}T23:59:59.999Z` }),
      // PostgreSQL alone would round this to microseconds, into the next month; it is kept at milliseconds.
      apiCallEvent(tenantId!, { occurredAt: `${lastDayDate}T23:59:59.9999999Z` }),
      apiCallEvent(tenantId!, { occurredAt: `${current}-01T00:30:00+01:00` }), // 23:30 UTC the day before
    ];
    const inCurrent = [
      apiCallEvent(tenantId!, { occurredAt: `${current}-01T00:00:00Z` }),
      apiCallEvent(tenantId!, { occurredAt: `${lastDayDate}T23:30:00-01:00` }), // 00:30 UTC on the 1st
    ];
    await waitForJobs(api, await postEvents(api, [[...inPrevious, ...inCurrent]]));

    expect((await usageOf(api, tenantId!, previous)).apiCalls.used).toBe(4);
    expect((await usageOf(api, tenantId!, current)).apiCalls.used).toBe(2);
    expect((await quotaOf(api, tenantId!)).apiCalls.used).toBe(2);
    // Partition maintenance moves the row out of the default partition into its month's.
    const partition = `api_usage_logs_y${previous.slice(0, 4)}m${previous.slice(5, 7)}`;
    await waitFor(
      async () => {
        const { rows } = await platform.client.query(
          'SELECT tableoid::regclass::text AS part FROM api_usage_logs WHERE event_id = $1',
          [atEnd.eventId],
        );
        return rows[0]?.part === partition ? true : undefined;
      },
      { what: `event in ${partition}` },
    );
  });

  it('flips the quota to allowed:false at the limit, emits each threshold once, and follows a plan change at once', async () => {
    const [tenantId] = await platform.insertTenants(1, { plan: 'free' }); // 1,000 calls a month
    const send = async (count: number) =>
      waitForJobs(api, await postEvents(api, [Array.from({ length: count }, () => apiCallEvent(tenantId!))]));
    const types = async () => (await domainEventsOf(env, tenantId!)).map((event) => event.type);

    await send(799);
    expect(await quotaOf(api, tenantId!)).toMatchObject({
      allowed: true,
      apiCalls: { used: 799, limit: 1_000, remaining: 201 },
    });
    expect(await types()).toEqual([]);
    await send(1);
    expect(await types()).toEqual(['quota.warning']);
    await send(199);
    expect(await quotaOf(api, tenantId!)).toMatchObject({ allowed: true, apiCalls: { used: 999, remaining: 1 } });
    await send(1);
    const quota = await quotaOf(api, tenantId!);
    expect(quota).toMatchObject({ allowed: false, apiCalls: { used: 1_000, limit: 1_000, remaining: 0 } });
    const now = new Date();
    expect(quota.resetsAt).toBe(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)).toISOString());
    await send(3);
    await send(2);
    expect((await quotaOf(api, tenantId!)).allowed).toBe(false);

    const events = await domainEventsOf(env, tenantId!);
    expect(events.map((event) => event.type)).toEqual(['quota.warning', 'quota.exceeded']);
    expect(events[1]).toMatchObject({
      version: 1,
      tenantId,
      data: { limit: 'apiCalls', threshold: 100, period: monthOfDate(now), used: 1_000, limitValue: 1_000 },
    });
    expect(await platform.count(`SELECT count(*) AS n FROM quota_events WHERE tenant_id = $1`, [tenantId])).toBe(2);
    expect(
      await platform.count(
        `SELECT count(*) AS n FROM outbox WHERE kind = 'event' AND name LIKE 'quota.%' AND tenant_id = $1 AND published_at IS NOT NULL`,
        [tenantId],
      ),
    ).toBe(2);

    const upgraded = await api.call('PATCH', `/v1/tenants/${tenantId}`, { body: { plan: 'premium' } });
    expect(upgraded.statusCode).toBe(200);
    expect(await quotaOf(api, tenantId!)).toMatchObject({
      allowed: true,
      apiCalls: { used: 1_005, limit: 100_000, remaining: 98_995 },
    });
    expect(await usageOf(api, tenantId!)).toMatchObject({ plan: 'premium', apiCalls: { used: 1_005, limit: 100_000 } });

    await api.call('PATCH', `/v1/tenants/${tenantId}`, { body: { status: 'suspended' } });
    expect((await quotaOf(api, tenantId!)).allowed).toBe(false);
    await api.call('PATCH', `/v1/tenants/${tenantId}`, { body: { status: 'active', plan: 'free' } });
    expect((await quotaOf(api, tenantId!)).allowed).toBe(false);
  });

  it('repairs Redis counters wiped or wrong from PostgreSQL, and reports the drift', async () => {
    const [wiped, inflated] = await platform.insertTenants(2);
    await waitForJobs(
      api,
      await postEvents(api, [
        Array.from({ length: 7 }, () => apiCallEvent(wiped!)),
        Array.from({ length: 3 }, () => apiCallEvent(inflated!)),
      ]),
    );
    const keys = meteringKeys(env.DEEPLENS_QUEUE_PREFIX!);
    const month = monthOfDate(new Date());
    const linesBefore = aggregator.output.length;
    await redis.del(keys.apiCalls(wiped!, month), keys.tenant(wiped!));
    await redis.set(keys.apiCalls(inflated!, month), '500');

    await waitFor(
      async () => {
        const [a, b] = [await quotaOf(api, wiped!), await quotaOf(api, inflated!)];
        return a.apiCalls.used === 7 && b.apiCalls.used === 3 ? true : undefined;
      },
      { what: 'counters reconciled' },
    );
    // The aggregator logs each reconciliation after writing Redis: wait for the line to come through too.
    const reported = await waitFor(
      () => {
        const reports = aggregator.output
          .slice(linesBefore)
          .filter((line) => line.includes('"usage reconciliation'))
          .flatMap((line) => {
            try {
              return [JSON.parse(line) as { repaired: number; drift: number }];
            } catch {
              return []; // a line cut across two output chunks
            }
          });
        const total = reports.reduce(
          (sum, report) => ({ repaired: sum.repaired + report.repaired, drift: sum.drift + report.drift }),
          {
            repaired: 0,
            drift: 0,
          },
        );
        return total.repaired >= 2 ? total : undefined;
      },
      { what: 'reconciliation report' },
    );
    expect(reported.drift).toBeGreaterThanOrEqual(7 + 497);
  });

  it('measures storage and collections in the tenant database into usage_statistics and the usage answer', async () => {
    const [tenantId] = await platform.insertTenants(1, { plan: 'free' });
    await platform.client.query('UPDATE tenants SET max_collections_limit = 2 WHERE id = $1', [tenantId]);
    const { rows } = await platform.client.query('SELECT name FROM tenants WHERE id = $1', [tenantId]);
    const names = platformNames(env.DEEPLENS_DB_PREFIX!);
    const database = `${names.tenantDatabasePrefix}${rows[0].name.replace(/-/g, '_')}_metadata`;
    await withClient(env.DATABASE_URL!, (admin) =>
      withTemplateLock(admin, env.DEEPLENS_DB_PREFIX!, 'shared', () =>
        // Another clone of the template may be starting at this moment: try again until ours goes through.
        waitFor(
          () => admin.query(`CREATE DATABASE "${database}" TEMPLATE "${names.templateDatabase}"`).then(() => true),
          {
            what: 'template clone',
          },
        ),
      ),
    );
    await platform.client.query(
      `INSERT INTO tenant_databases (tenant_id, db_type, database_name) VALUES ($1, 'metadata', $2)`,
      [tenantId, database],
    );
    await makeTenantLogin(
      {
        DATABASE_URL: env.DATABASE_URL!,
        DEEPLENS_DB_PREFIX: env.DEEPLENS_DB_PREFIX!,
        DEEPLENS_ENCRYPTION_KEY: env.DEEPLENS_ENCRYPTION_KEY!,
      },
      database,
      { tenantId: tenantId! },
    );
    await withClient(withDatabase(env.DATABASE_URL!, database), async (tenantDb) => {
      await tenantDb.query('BEGIN');
      await tenantDb.query('SELECT set_tenant_context($1, true)', [tenantId]);
      const collections = await tenantDb.query(
        `INSERT INTO image_collections (tenant_id, name) VALUES ($1, 'cats'), ($1, 'dogs') RETURNING id`,
        [tenantId],
      );
      await tenantDb.query(
        `INSERT INTO images (tenant_id, collection_id, storage_path, size_bytes)
         VALUES ($1, $2, 'a.jpg', 1000), ($1, $2, 'b.jpg', 2000), ($1, NULL, 'c.jpg', 3000)`,
        [tenantId, collections.rows[0].id],
      );
      await tenantDb.query('COMMIT');
    });

    const usage = await waitFor(
      async () => {
        const answer = await usageOf(api, tenantId!);
        return answer.storage.usedBytes === 6_000 ? answer : undefined;
      },
      { what: 'storage measured' },
    );
    expect(usage).toMatchObject({
      storage: { usedBytes: 6_000, limitBytes: 1024 ** 3 },
      collections: { used: 2, limit: 2 },
    });
    const statistics = await withClient(withDatabase(env.DATABASE_URL!, database), async (tenantDb) => {
      await tenantDb.query('SELECT set_tenant_context($1)', [tenantId]);
      return (await tenantDb.query('SELECT storage_bytes, image_count, collection_count FROM usage_statistics')).rows;
    });
    expect(statistics).toEqual([{ storage_bytes: '6000', image_count: '3', collection_count: 2 }]);
    // The aggregator measures as the tenant's own login role, never as the admin. It measures every
    // 300 ms, but its pool to this database may be closed in between to make room for other test
    // files' tenants: wait until its session is there, then look at who it is.
    const sessions = await waitFor(
      () =>
        withClient(env.DATABASE_URL!, async (admin) => {
          const { rows } = await admin.query(
            'SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND usename <> current_user',
            [database],
          );
          return rows.length ? rows : undefined;
        }),
      { what: "the aggregator's session on the tenant database" },
    );
    expect(sessions).toEqual([{ usename: tenantLoginRoleName(env.DEEPLENS_DB_PREFIX!, tenantId!) }]);
    expect(
      await platform.count(
        `SELECT count(*) AS n FROM quota_events WHERE tenant_id = $1 AND limit_name = 'collections'`,
        [tenantId],
      ),
    ).toBe(2);
  });

  it('answers 404 for an unknown tenant and 400 for a malformed month', async () => {
    const [tenantId] = await platform.insertTenants(1);
    const unknown = '00000000-0000-4000-8000-000000000000';
    expect((await api.call('GET', `/v1/tenants/${unknown}/usage`)).statusCode).toBe(404);
    expect((await api.call('GET', `/v1/tenants/${unknown}/quota`)).statusCode).toBe(404);
    for (const month of ['2026-13', '2026-1', 'last']) {
      const response = await api.call('GET', `/v1/tenants/${tenantId}/usage?month=${month}`);
      expect(response.statusCode, month).toBe(400);
      expect(response.json().error.code).toBe('validation_failed');
    }
    expect(await usageOf(api, tenantId!, '2020-01')).toMatchObject({ month: '2020-01', apiCalls: { used: 0 } });
  });
});
