import { randomUUID } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import {
  apiCallEvent,
  type ServiceProcess,
  startService,
  TEST_SERVICE_TOKEN,
  testEnv,
  waitFor,
} from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../services/api/test/helpers.js';
import { openPlatform, postEvents, usageOf, waitForJobs, type Platform } from './usage.fixtures.js';

const env = testEnv();
let api: TestApi;
let aggregator: ServiceProcess;
let platform: Platform;

beforeAll(async () => {
  [api, aggregator, platform] = await Promise.all([
    startTestApi(env),
    startService('usage-aggregator', env),
    openPlatform(env),
  ]);
});

afterAll(async () => {
  await aggregator?.stop();
  await api?.close();
  await platform?.close();
});

/** Jobs ever added to this installation's usage queue (they move between states, the sum only grows by adds). */
const usageJobsAdded = async () =>
  Object.values(
    await api.deps.producer
      .queue('usage')
      .getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed'),
  ).reduce((sum, count) => sum + count, 0);

describe('POST /v1/events/api-calls', () => {
  it('accepts one event with 202, a job and its Location, and counts it', async () => {
    const [tenantId] = await platform.insertTenants(1);
    const response = await api.call('POST', '/v1/events/api-calls', {
      body: apiCallEvent(tenantId!),
      token: TEST_SERVICE_TOKEN,
    });
    expect(response.statusCode).toBe(202);
    const { accepted, jobId } = response.json();
    expect(accepted).toBe(1);
    expect(response.headers.location).toBe(`/v1/jobs/${jobId}`);
    const [job] = await waitForJobs(api, [jobId]);
    expect(job).toMatchObject({ type: 'usage.ingest', state: 'completed', result: { counted: 1, duplicates: 0 } });
    expect((await usageOf(api, tenantId!)).apiCalls.used).toBe(1);
  });

  it('counts an event sent twice in one request, or again in later requests, once', async () => {
    const [tenantId] = await platform.insertTenants(1);
    const [first, second, third] = [apiCallEvent(tenantId!), apiCallEvent(tenantId!), apiCallEvent(tenantId!)];
    const jobs = await postEvents(api, [[first, first, second]]);
    jobs.push(...(await postEvents(api, [[first, second, third], third, { ...second, endpoint: '/v1/other' }])));
    const finished = await waitForJobs(api, jobs);
    expect(finished.reduce((sum, job) => sum + job.result.counted, 0)).toBe(3);
    expect(finished.reduce((sum, job) => sum + job.result.duplicates, 0)).toBe(5);

    expect((await usageOf(api, tenantId!)).apiCalls.used).toBe(3);
    expect(await platform.count('SELECT count(*) AS n FROM api_usage_logs WHERE tenant_id = $1', [tenantId])).toBe(3);
    expect(await platform.count('SELECT count(*) AS n FROM usage_event_keys WHERE tenant_id = $1', [tenantId])).toBe(3);
    // The first occurrence is the one kept.
    expect(
      await platform.count(`SELECT count(*) AS n FROM api_usage_logs WHERE event_id = $1 AND endpoint = '/v1/search'`, [
        second.eventId,
      ]),
    ).toBe(1);
  });

  it('coalesces single events from many callers into a few jobs, each caller told its job', async () => {
    const [tenantId] = await platform.insertTenants(1);
    const events = Array.from({ length: 300 }, () => apiCallEvent(tenantId!));
    const jobIds = await postEvents(api, events, TEST_SERVICE_TOKEN);
    const distinct = new Set(jobIds);
    expect(distinct.size).toBeLessThanOrEqual(30);
    const finished = await waitForJobs(api, [...distinct]);
    expect(finished.reduce((sum, job) => sum + job.result.events, 0)).toBe(300);
    expect((await usageOf(api, tenantId!)).apiCalls.used).toBe(300);
  });

  it('refuses a malformed batch whole, naming the first bad event, and leaves no trace', async () => {
    const [tenantId, deletedId] = await platform.insertTenants(2);
    await platform.client.query(`UPDATE tenants SET status = 'deleted', deleted_at = now() WHERE id = $1`, [deletedId]);
    const before = await usageJobsAdded();
    const good = () => apiCallEvent(tenantId!);
    const cases: Array<{ body: unknown; index?: number; field?: string }> = [
      {
        body: { events: [good(), good(), good(), { ...good(), statusCode: 'ok' }, { ...good(), durationMs: -1 }] },
        index: 3,
        field: 'body.events.3.statusCode',
      },
      {
        body: { events: [good(), { ...good(), tenantId: randomUUID() }, good()] },
        index: 1,
        field: 'body.events.1.tenantId',
      },
      { body: { events: [good(), apiCallEvent(deletedId!)] }, index: 1, field: 'body.events.1.tenantId' },
      {
        body: { events: [good(), { ...good(), occurredAt: '2026-02-30T10:00:00Z' }] },
        index: 1,
        field: 'body.events.1.occurredAt',
      },
      {
        body: { events: [good(), { ...good(), occurredAt: '2026-11-02T10:00:00+16:00' }] },
        index: 1,
        field: 'body.events.1.occurredAt',
      },
      { body: { events: [good(), { ...good(), extra: 1 }] }, index: 1, field: 'body.events.1.extra' },
      { body: { events: [{ ...good(), eventId: 'not-a-uuid' }] }, index: 0, field: 'body.events.0.eventId' },
      {
        body: { events: [good(), (({ endpoint: _, ...rest }) => rest)(good())] },
        index: 1,
        field: 'body.events.1.endpoint',
      },
      { body: { ...good(), method: '' }, index: 0, field: 'body.method' },
      // A lone surrogate (valid JSON, not valid Unicode): PostgreSQL would refuse it in the aggregator.
      {
        body: { events: [good(), { ...good(), endpoint: '/v1/search?q=\ud800' }] },
        index: 1,
        field: 'body.events.1.endpoint',
      },
      { body: { events: [] } },
      { body: { events: Array.from({ length: 1_001 }, good) } },
      { body: { events: [good()], more: true } },
      { body: [good()] },
    ];
    const refused = cases.flatMap((entry) => {
      const events = (entry.body as { events?: unknown[] }).events;
      return Array.isArray(events) ? events : [entry.body];
    });
    for (const entry of cases) {
      const response = await api.call('POST', '/v1/events/api-calls', { body: entry.body, token: TEST_SERVICE_TOKEN });
      expect(response.statusCode, JSON.stringify(entry.body).slice(0, 200)).toBe(400);
      const { error } = response.json();
      expect(error.code).toBe('validation_failed');
      if (entry.index !== undefined) {
        expect(error.details[0]).toMatchObject({ index: entry.index, field: entry.field });
        expect(error.message).toContain(`event ${entry.index}`);
      }
    }

    // Nothing was queued, so nothing can be counted later; a valid event afterwards is counted alone.
    expect(await usageJobsAdded()).toBe(before);
    await waitForJobs(api, await postEvents(api, [good()]));
    const ids = refused.flatMap((event) =>
      typeof (event as { eventId?: unknown })?.eventId === 'string' ? [(event as { eventId: string }).eventId] : [],
    );
    expect(
      await platform.count('SELECT count(*) AS n FROM usage_event_keys WHERE event_id::text = ANY($1)', [ids]),
    ).toBe(0);
    expect(
      await platform.count('SELECT count(*) AS n FROM api_usage_logs WHERE tenant_id = ANY($1)', [
        [tenantId, deletedId],
      ]),
    ).toBe(1);
  });

  it('refuses events of a tenant deleted after it was cached as live, without waiting for the cache to expire', async () => {
    const [tenantId] = await platform.insertTenants(1);
    expect((await api.call('POST', '/v1/events/api-calls', { body: apiCallEvent(tenantId!) })).statusCode).toBe(202);
    const { rows } = await platform.client.query('SELECT name FROM tenants WHERE id = $1', [tenantId]);
    // Deleting through the API announces the change on Redis; every replica's cache drops the tenant.
    expect((await api.call('DELETE', `/v1/tenants/${tenantId}?confirm=${rows[0].name}`)).statusCode).toBe(202);
    // No provisioner runs in this file: finish the deprovisioning by hand.
    await platform.client.query(`UPDATE tenants SET status = 'deleted', deleted_at = now() WHERE id = $1`, [tenantId]);
    // The announcement travels asynchronously; well within the cache's 60 s, the tenant is refused.
    const refused = await waitFor(
      async () => {
        const response = await api.call('POST', '/v1/events/api-calls', { body: apiCallEvent(tenantId!) });
        return response.statusCode === 400 ? response : undefined;
      },
      { timeoutMs: 5_000, what: 'events of the deleted tenant refused' },
    );
    expect(refused.json().error.details[0]).toMatchObject({ index: 0, field: 'body.tenantId' });
  });

  it('lets a service token post events and read quotas, and nothing else', async () => {
    const [tenantId] = await platform.insertTenants(1);
    const as = (method: 'GET' | 'POST', url: string, body?: unknown) =>
      api.call(method, url, { token: TEST_SERVICE_TOKEN, ...(body ? { body } : {}) });
    expect((await as('POST', '/v1/events/api-calls', apiCallEvent(tenantId!))).statusCode).toBe(202);
    expect((await as('POST', '/v1/events/api-calls', { events: [apiCallEvent(tenantId!)] })).statusCode).toBe(202);
    expect((await as('GET', `/v1/tenants/${tenantId}/quota`)).statusCode).toBe(200);
    for (const url of ['/v1/tenants', `/v1/tenants/${tenantId}`, `/v1/tenants/${tenantId}/usage`, '/v1/status']) {
      const response = await as('GET', url);
      expect(response.statusCode, url).toBe(403);
      expect(response.json().error.code).toBe('forbidden');
    }
    expect((await as('POST', '/v1/tenants', { name: 'not-allowed' })).statusCode).toBe(403);
    expect(
      (await api.call('POST', '/v1/events/api-calls', { body: apiCallEvent(tenantId!), token: null })).statusCode,
    ).toBe(401);
    expect(
      (await api.call('GET', `/v1/tenants/${tenantId}/quota`, { token: 'not-a-known-token-at-all' })).statusCode,
    ).toBe(401);
  });
});

describe('when Redis is unavailable', () => {
  /** A TCP proxy to Redis that the test can cut, as a network partition would. */
  async function redisProxy(target: URL) {
    const sockets = new Set<Socket>();
    const server: Server = createServer((client) => {
      const upstream = connect(Number(target.port || 6379), target.hostname);
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => sockets.delete(socket));
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    return {
      url: `redis://127.0.0.1:${port}`,
      async cut() {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const socket of sockets) socket.destroy();
        await closed;
      },
    };
  }

  it('answers 503 within a second, single or batched, and accepts nothing', async () => {
    const proxy = await redisProxy(new URL(env.REDIS_URL!));
    const cutApi = await startTestApi({ ...env, REDIS_URL: proxy.url });
    try {
      const [tenantId] = await platform.insertTenants(1);
      expect((await cutApi.call('POST', '/v1/events/api-calls', { body: apiCallEvent(tenantId!) })).statusCode).toBe(
        202,
      );
      await proxy.cut();
      const event = apiCallEvent(tenantId!);
      for (const body of [event, { events: [event, apiCallEvent(tenantId!)] }]) {
        const started = Date.now();
        const response = await cutApi.call('POST', '/v1/events/api-calls', { body });
        expect(Date.now() - started).toBeLessThan(1_000);
        expect(response.statusCode).toBe(503);
        expect(response.json().error.code).toBe('unavailable');
      }
      const quota = await cutApi.call('GET', `/v1/tenants/${tenantId}/quota`);
      expect(quota.statusCode).toBe(503);
      expect(
        await platform.count('SELECT count(*) AS n FROM usage_event_keys WHERE event_id = $1', [event.eventId]),
      ).toBe(0);
    } finally {
      await cutApi.close();
    }
  });
});
