import { platformNames, withClient, withDatabase } from '@deeplens/shared';
import {
  apiCallEvent,
  type PrivateRedis,
  type ServiceProcess,
  startPrivateRedis,
  startService,
  testEnv,
  uniqueName,
  waitFor,
  waitForReady,
} from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../services/api/test/helpers.js';
import { openPlatform } from './usage.fixtures.js';

/**
 * Redis stopped (killed) and started again while the API takes traffic, on a
 * Redis of this file's own (the machine's is shared with every other test):
 * the API answers 503 `unavailable` within a second, never hangs and never
 * 500s; /readyz turns 503; afterwards the API and the provisioner recover by
 * themselves, and the provisioner takes a job queued after the restart. The
 * event dispatcher runs too, as in production: a creation committed just as
 * Redis went away is accepted, and its job is queued by the outbox sweep.
 */
let redis: PrivateRedis;
let env: Record<string, string>;
let api: TestApi;
let provisioner: ServiceProcess;
let dispatcher: ServiceProcess;

beforeAll(async () => {
  redis = await startPrivateRedis();
  env = testEnv({ REDIS_URL: redis.url });
  api = await startTestApi(env);
  provisioner = await startService('provisioner', env);
  // A short grace period: the sweep leaves rows to a writer publishing them right now, and takes the rest at once.
  dispatcher = await startService('event-dispatcher', {
    ...env,
    DEEPLENS_OUTBOX_GRACE_MS: '1000',
    DEEPLENS_OUTBOX_INTERVAL_MS: '500',
  });
  await waitForReady(api, { what: 'the API ready' });
});
afterAll(async () => {
  await dispatcher?.stop();
  await provisioner?.stop();
  await api?.close();
  await redis?.close();
});

const tenantNamed = (name: string) =>
  withClient(
    withDatabase(env.DATABASE_URL!, platformNames(env.DEEPLENS_DB_PREFIX!).platformDatabase),
    async (client) => (await client.query('SELECT status FROM tenants WHERE name = $1', [name])).rows,
  );

/** A request that must answer within a second: a hang shows as an answer of 0. */
async function timed(request: () => Promise<{ statusCode: number; body: string }>) {
  const started = performance.now();
  const hung = new Promise<{ statusCode: number; body: string }>((done) =>
    setTimeout(() => done({ statusCode: 0, body: 'no answer within a second' }), 1_000).unref(),
  );
  const response = await Promise.race([request(), hung]);
  return { status: response.statusCode, body: response.body, ms: performance.now() - started };
}

describe('Redis stopped and restarted under traffic', () => {
  it('answers 503 while Redis is down, recovers by itself, and the provisioner processes a job queued after the restart', async () => {
    const before = (await api.call('POST', '/v1/tenants', { body: { name: uniqueName('before') } })).json();
    expect((await api.waitForJob(before.jobId)).state).toBe('completed');

    // Traffic throughout the outage: creations (need Redis), reads (PostgreSQL only), quota checks (Redis).
    let running = true;
    const answers: Array<{ phase: string; route: string; status: number; ms: number; body: string }> = [];
    let phase = 'up';
    const refused: string[] = [];
    const traffic = (async () => {
      while (running) {
        const name = uniqueName('outage');
        const created = await timed(() => api.call('POST', '/v1/tenants', { body: { name } }));
        if (created.status === 503) refused.push(name);
        answers.push({ phase, route: 'POST /v1/tenants', ...created });
        answers.push({
          phase,
          route: 'GET /v1/tenants/:id',
          ...(await timed(() => api.call('GET', `/v1/tenants/${before.tenantId}`))),
        });
        answers.push({
          phase,
          route: 'GET /v1/tenants/:id/quota',
          ...(await timed(() => api.call('GET', `/v1/tenants/${before.tenantId}/quota`))),
        });
      }
    })();

    await redis.stop('SIGKILL');
    phase = 'down';
    const readyDown = await waitFor(
      async () => {
        const response = await api.call('GET', '/readyz');
        return response.statusCode === 503 ? response.json() : undefined;
      },
      { what: '/readyz to turn 503' },
    );
    expect(readyDown).toMatchObject({ status: 'unavailable', redis: 'down', postgres: 'up' });
    await waitFor(() => (answers.filter((answer) => answer.phase === 'down').length >= 30 ? true : undefined), {
      what: 'traffic during the outage',
    });
    // Down long enough for the provisioner's worker to have lost its connections and said so.
    const seenByWorker = provisioner.output.length;
    await waitFor(
      () =>
        provisioner.output
          .slice(seenByWorker)
          .some((line) => /ECONNREFUSED|Connection is closed|worker error/.test(line))
          ? true
          : undefined,
      {
        what: 'the provisioner to notice the outage',
      },
    );

    await redis.start();
    phase = 'restarted';
    await waitForReady(api, { what: '/readyz back to 200' });
    await waitFor(
      () =>
        answers.filter((answer) => answer.phase === 'restarted' && answer.status === 202).length >= 2
          ? true
          : undefined,
      {
        what: 'creations accepted again',
      },
    );
    running = false;
    await traffic;

    // Never a 500, never a hang; while Redis was down, every refusal was a prompt 503 `unavailable`.
    expect(answers.filter((answer) => answer.status === 0 || (answer.status >= 500 && answer.status !== 503))).toEqual(
      [],
    );
    const down = answers.filter((answer) => answer.phase === 'down');
    for (const answer of down.filter((item) => item.route !== 'GET /v1/tenants/:id')) {
      if (answer.status !== 503) continue;
      expect(JSON.parse(answer.body).error.code).toBe('unavailable');
    }
    expect(down.some((answer) => answer.route === 'POST /v1/tenants' && answer.status === 503)).toBe(true);
    expect(
      down.filter((answer) => answer.route === 'GET /v1/tenants/:id').every((answer) => answer.status === 200),
    ).toBe(true);
    // A refused creation left nothing behind.
    for (const name of refused) expect(await tenantNamed(name)).toEqual([]);

    // The provisioner's worker came back by itself: a job queued after the restart completes.
    const after = (await api.call('POST', '/v1/tenants', { body: { name: uniqueName('after') } })).json();
    expect((await api.waitForJob(after.jobId, 60_000)).state).toBe('completed');
    expect((await api.call('GET', `/v1/tenants/${after.tenantId}`)).json().status).toBe('active');
    // Creations accepted after the restart were provisioned too, and so were those accepted as Redis went away.
    for (const answer of answers.filter((item) => item.phase !== 'up' && item.status === 202)) {
      expect((await api.waitForJob(JSON.parse(answer.body).jobId, 60_000)).state).toBe('completed');
    }
    expect(provisioner.child.exitCode).toBeNull();
  }, 180_000);

  it('keeps every acknowledged event through a crash of Redis (AOF, appendfsync always): all counted once after the restart', async () => {
    const platform = await openPlatform(env);
    try {
      const [tenantId] = await platform.insertTenants(1, { plan: 'enterprise' });
      // No aggregator yet: every acknowledged batch is only in Redis when it dies.
      const jobIds: string[] = [];
      for (let batch = 0; batch < 20; batch++) {
        const response = await api.call('POST', '/v1/events/api-calls', {
          body: { events: Array.from({ length: 50 }, () => apiCallEvent(tenantId!)) },
        });
        expect(response.statusCode).toBe(202);
        jobIds.push(response.json().jobId);
      }
      await redis.stop('SIGKILL');
      await redis.start();
      await waitForReady(api, { what: '/readyz back to 200' });

      const aggregator = await startService('usage-aggregator', env);
      try {
        for (const jobId of jobIds) expect((await api.waitForJob(jobId, 60_000)).state).toBe('completed');
      } finally {
        await aggregator.stop();
      }
      const counted = await platform.count(
        'SELECT coalesce(sum(api_calls), 0) AS n FROM usage_counters WHERE tenant_id = $1',
        [tenantId],
      );
      expect(counted).toBe(1_000);
    } finally {
      await platform.close();
    }
  }, 120_000);
});

describe('an API started while Redis is down', () => {
  it('answers 503 at once (never waits for Redis), and serves normally once Redis is up', async () => {
    const late = await startPrivateRedis();
    await late.stop();
    const lateEnv = testEnv({ REDIS_URL: late.url });
    const lonely = await startTestApi(lateEnv);
    try {
      expect((await lonely.call('GET', '/readyz')).statusCode).toBe(503);
      const started = Date.now();
      const refused = await lonely.call('POST', '/v1/tenants', { body: { name: uniqueName('early') } });
      expect(refused.statusCode).toBe(503);
      expect(refused.json().error.code).toBe('unavailable');
      expect(Date.now() - started).toBeLessThan(1_000);
      await late.start();
      await waitForReady(lonely, {
        what: 'the API to see Redis',
      });
      const accepted = await lonely.call('POST', '/v1/tenants', { body: { name: uniqueName('later') } });
      expect(accepted.statusCode).toBe(202);
    } finally {
      await lonely.close();
      await late.close();
    }
  });
});
