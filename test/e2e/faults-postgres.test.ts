import { createLogger, migratePlatform } from '@deeplens/shared';
import {
  apiCallEvent,
  type PrivatePostgres,
  type ServiceProcess,
  startPrivatePostgres,
  startService,
  testEnv,
  uniqueName,
  waitFor,
  waitForReady,
} from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platformQuery, startTestApi, type TestApi } from '../../services/api/test/helpers.js';

/**
 * PostgreSQL restarted (`pg_ctl restart -m fast`: every connection cut) in the
 * middle of a provisioning and under a stream of usage events, on a cluster of
 * this file's own: the work is retried and finished, nothing is made twice
 * and no event is lost or counted twice.
 */
let postgres: PrivatePostgres;
let env: Record<string, string>;
let api: TestApi;
const running: ServiceProcess[] = [];

beforeAll(async () => {
  postgres = await startPrivatePostgres();
  env = testEnv({ DATABASE_URL: postgres.url });
  await migratePlatform(
    {
      DATABASE_URL: postgres.url,
      DEEPLENS_DB_PREFIX: env.DEEPLENS_DB_PREFIX!,
      DEEPLENS_PLATFORM_SERVICE_PASSWORD: undefined,
      DEEPLENS_TENANT_SERVICE_PASSWORD: undefined,
    },
    createLogger({ name: 'test-migrate', level: 'warn' }),
  );
  api = await startTestApi(env);
  await waitForReady(api, { what: 'the API ready' });
}, 180_000);
afterAll(async () => {
  for (const service of running) await service.stop();
  await api?.close();
  await postgres?.close();
});

/** On the private PostgreSQL, which exists only once beforeAll has started it. */
const platform = <T>(text: string, values: unknown[] = []) => platformQuery(env, postgres.url)<T>(text, values);

/** Calls the API until it answers something other than 503 (its pool reconnects after the restart). */
const callThrough = (...args: Parameters<TestApi['call']>) =>
  waitFor(
    async () => {
      const response = await api.call(...args);
      return response.statusCode === 503 ? undefined : response;
    },
    { what: `${args[0]} ${args[1]} to answer` },
  );

describe('PostgreSQL restarted mid-work', () => {
  it('finishes a provisioning whose database connection died between clone and registration, with one database', async () => {
    const provisioner = await startService('provisioner', {
      ...env,
      DEEPLENS_FAILPOINTS: 'provision.after-clone:delay=3000',
    });
    running.push(provisioner);
    const name = uniqueName('pgrestart');
    const database = `${env.DEEPLENS_DB_PREFIX}tenant_${name.replace(/-/g, '_')}_metadata`;
    const { tenantId, jobId } = (await api.call('POST', '/v1/tenants', { body: { name } })).json();
    // Cloned, and paused before the registration: cut every connection now.
    await waitFor(
      async () =>
        (await platform('SELECT 1 FROM pg_database WHERE datname = $1', [database])).length ? true : undefined,
      {
        what: 'the clone',
      },
    );
    await postgres.restart();

    const job = await waitFor(
      async () => {
        const response = await api.call('GET', `/v1/jobs/${jobId}`);
        const body = response.statusCode === 200 ? response.json() : undefined;
        return body?.state === 'completed' || body?.state === 'failed' ? body : undefined;
      },
      { timeoutMs: 90_000, what: 'the provisioning job' },
    );
    expect(job.state).toBe('completed');
    expect((await callThrough('GET', `/v1/tenants/${tenantId}`)).json()).toMatchObject({
      status: 'active',
      databases: [{ name: database }],
    });
    expect(await platform('SELECT count(*)::int AS n FROM pg_database WHERE datname = $1', [database])).toEqual([
      { n: 1 },
    ]);
    expect(
      await platform('SELECT count(*)::int AS n FROM tenant_databases WHERE tenant_id = $1 AND dropped_at IS NULL', [
        tenantId,
      ]),
    ).toEqual([{ n: 1 }]);
    expect(provisioner.child.exitCode).toBeNull();
  }, 150_000);

  it('counts every event exactly once when PostgreSQL restarts under a stream of usage batches', async () => {
    // Two jobs at a time, as before the outage: the others wait in the queue instead of spending attempts on it.
    const aggregator = await startService('usage-aggregator', { ...env, DEEPLENS_WORKER_CONCURRENCY: '2' });
    running.push(aggregator);
    const [tenant] = await platform<{ id: string }>(
      `INSERT INTO tenants (id, name, plan, status) VALUES (gen_random_uuid(), $1, 'enterprise', 'active') RETURNING id`,
      [uniqueName('meter')],
    );
    const tenantId = tenant!.id;
    let accepted = 0;
    const jobIds: string[] = [];
    let restarted = false;
    let acceptedAfterRestart = 0;
    const stream = (async () => {
      // Batches keep arriving before, during and after the restart (intake needs Redis, not PostgreSQL, once the
      // tenant is known), until at least five were taken after it or a minute has passed.
      const deadline = Date.now() + 60_000;
      for (let batch = 0; batch < 40 || (acceptedAfterRestart < 5 && Date.now() < deadline); batch++) {
        const events = Array.from({ length: 50 }, () => apiCallEvent(tenantId));
        const response = await api.call('POST', '/v1/events/api-calls', { body: { events } });
        if (response.statusCode === 202) {
          accepted += events.length;
          jobIds.push(response.json().jobId);
          if (restarted) acceptedAfterRestart += 1;
        }
        // Every event of a batch sent twice: the second copy must never count.
        if (batch % 5 === 0 && response.statusCode === 202)
          await api.call('POST', '/v1/events/api-calls', { body: { events } });
      }
    })();
    await waitFor(() => (jobIds.length >= 10 ? true : undefined), { what: 'the stream to start' });
    await postgres.restart();
    restarted = true;
    await stream;

    for (const jobId of jobIds) {
      const job = await waitFor(
        async () => {
          const response = await api.call('GET', `/v1/jobs/${jobId}`);
          const body = response.statusCode === 200 ? response.json() : undefined;
          return body?.state === 'completed' || body?.state === 'failed' ? body : undefined;
        },
        { timeoutMs: 90_000, what: `usage job ${jobId}` },
      ).catch(async (error: Error) => {
        // Seen once in CI under full load, not reproduced since: a failure says where the job stood.
        const job = (await api.call('GET', `/v1/jobs/${jobId}`)).json();
        throw new Error(
          `${error.message}; the job: ${JSON.stringify(job)}; the aggregator's last output: ${aggregator.output.join('').slice(-4000)}`,
        );
      });
      expect(job.state, JSON.stringify(job.error)).toBe('completed');
    }
    const [counted] = await platform<{ calls: number; logs: number; keys: number }>(
      `SELECT (SELECT coalesce(sum(api_calls), 0)::int FROM usage_counters WHERE tenant_id = $1) AS calls,
              (SELECT count(*)::int FROM api_usage_logs WHERE tenant_id = $1) AS logs,
              (SELECT count(*)::int FROM usage_event_keys WHERE tenant_id = $1) AS keys`,
      [tenantId],
    );
    // Batches refused with 503 while the API's own pool reconnected are not counted by anyone; the rest all are.
    // (How many were refused depends on how long the restart took: at least 10 went before it, 5 after.)
    expect(jobIds.length - acceptedAfterRestart).toBeGreaterThanOrEqual(10);
    expect(acceptedAfterRestart).toBeGreaterThanOrEqual(5);
    expect(counted).toEqual({ calls: accepted, logs: accepted, keys: accepted });
    expect(aggregator.child.exitCode).toBeNull();
  }, 200_000);

  it('answers 503 (never 500) and turns /readyz 503 while PostgreSQL is stopped, and recovers after', async () => {
    await postgres.stop('fast');
    try {
      const ready = await waitFor(
        async () => {
          const response = await api.call('GET', '/readyz');
          return response.statusCode === 503 ? response.json() : undefined;
        },
        { what: '/readyz to turn 503' },
      );
      expect(ready).toMatchObject({ postgres: 'down', redis: 'up' });
      for (const [method, url, body] of [
        ['GET', '/v1/tenants?limit=5', undefined],
        ['POST', '/v1/tenants', { name: uniqueName('nopg') }],
        ['GET', '/v1/status', undefined],
      ] as const) {
        const response = await api.call(method, url, body === undefined ? {} : { body });
        expect(response.statusCode, `${method} ${url}: ${response.body}`).toBe(503);
        expect(response.json().error.code).toBe('unavailable');
      }
    } finally {
      await postgres.start();
    }
    await waitForReady(api, { what: '/readyz back to 200' });
    expect((await callThrough('GET', '/v1/tenants?limit=5')).statusCode).toBe(200);
  }, 90_000);
});
