import { Agent, request as httpRequest } from 'node:http';
import {
  apiCallEvent,
  freePort,
  startService,
  TEST_SERVICE_TOKEN,
  testEnv,
  uniqueName,
  waitFor,
  waitForReady,
} from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platformQuery, startTestApi, type TestApi } from '../../services/api/test/helpers.js';

/**
 * SIGTERM under load. The aggregator, under a stream of events, finishes the
 * batches it holds and exits 0 leaving no job active (nothing for the stalled
 * check to hand back); every event is counted once by its successor. The API,
 * with requests in flight, answers every one of them before it exits 0.
 * (The provisioner's drain is proven in provisioning-faults.test.ts.)
 */
const env = testEnv();
let api: TestApi;
let tenantId: string;

const platform = platformQuery(env);

beforeAll(async () => {
  api = await startTestApi(env);
  await waitForReady(api, { what: 'the API ready' });
  const [row] = await platform<{ id: string }>(
    `INSERT INTO tenants (id, name, plan, status) VALUES (gen_random_uuid(), $1, 'enterprise', 'active') RETURNING id`,
    [uniqueName('drain')],
  );
  tenantId = row!.id;
});
afterAll(async () => {
  await api?.close();
});

describe('SIGTERM under load', () => {
  it('the aggregator drains under a stream of events: exits 0, no job left active, every event counted once', async () => {
    const first = await startService('usage-aggregator', { ...env, DEEPLENS_WORKER_CONCURRENCY: '4' });
    let accepted = 0;
    const jobIds: string[] = [];
    let stop = false;
    const stream = (async () => {
      while (!stop) {
        const events = Array.from({ length: 100 }, () => apiCallEvent(tenantId));
        const response = await api.call('POST', '/v1/events/api-calls', { body: { events } });
        expect(response.statusCode).toBe(202);
        accepted += events.length;
        jobIds.push(response.json().jobId);
      }
    })();
    await waitFor(async () => ((await api.deps.producer.counts()).usage.completed! >= 5 ? true : undefined), {
      what: 'batches to be counted',
    });

    const exitCode = await first.stop('SIGTERM');
    expect(exitCode).toBe(0);
    expect(first.output.join('\n')).toMatch(/shutting down: finishing active jobs[\s\S]*stopped/);
    // Whatever it held it finished: nothing is left active for the stalled check to recover.
    expect((await api.deps.producer.counts()).usage.active).toBe(0);
    stop = true;
    await stream;

    const second = await startService('usage-aggregator', env);
    try {
      for (const jobId of jobIds) expect((await api.waitForJob(jobId)).state).toBe('completed');
    } finally {
      await second.stop();
    }
    const [counted] = await platform<{ calls: number; keys: number }>(
      `SELECT (SELECT coalesce(sum(api_calls), 0)::int FROM usage_counters WHERE tenant_id = $1) AS calls,
              (SELECT count(*)::int FROM usage_event_keys WHERE tenant_id = $1) AS keys`,
      [tenantId],
    );
    expect(counted).toEqual({ calls: accepted, keys: accepted });
    // No job needed a second attempt: none was cut off by the shutdown.
    const retried = await Promise.all(
      jobIds.map(async (jobId) => (await api.call('GET', `/v1/jobs/${jobId}`)).json().attempts),
    );
    expect(retried.filter((attempts) => attempts > 1)).toEqual([]);
  }, 150_000);

  it('the API answers every request in flight before it exits 0', async () => {
    const port = await freePort();
    // Single events are held up to a second to be coalesced: requests are still in flight when SIGTERM arrives.
    const serverEnv = { ...env, HOST: '127.0.0.1', PORT: String(port), DEEPLENS_USAGE_COALESCE_MS: '1000' };
    const server = await startService('api', serverEnv);
    const agent = new Agent({ keepAlive: true, maxSockets: 20 });
    const send = (method: string, path: string, body?: unknown) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const request = httpRequest(
          {
            host: '127.0.0.1',
            port,
            method,
            path,
            agent,
            headers: { authorization: `Bearer ${TEST_SERVICE_TOKEN}`, 'content-type': 'application/json' },
          },
          (response) => {
            let text = '';
            response
              .on('data', (chunk) => (text += chunk))
              .on('end', () => resolve({ status: response.statusCode!, body: text }));
          },
        );
        request.on('error', reject);
        request.end(body === undefined ? undefined : JSON.stringify(body));
      });
    try {
      // Open (and let the server accept) every connection first, so each request below travels on a live one.
      await Promise.all(Array.from({ length: 20 }, () => send('GET', `/v1/tenants/${tenantId}/quota`)));
      const inFlight = Array.from({ length: 20 }, () => send('POST', '/v1/events/api-calls', apiCallEvent(tenantId)));
      // Once a request sent after them has been answered, the server has read them all; they wait for the coalescing window.
      await fetch(`http://127.0.0.1:${port}/healthz`);
      const exited = server.stop('SIGTERM');
      const answers = await Promise.all(inFlight);
      expect(answers.map((answer) => answer.status)).toEqual(Array(20).fill(202));
      const code = await exited;
      expect(code).toBe(0);
      // Those answers were real: the job they name holds the events.
      const jobId = JSON.parse(answers[0]!.body).jobId as string;
      expect(['waiting', 'active', 'completed']).toContain((await api.call('GET', `/v1/jobs/${jobId}`)).json().state);
    } finally {
      agent.destroy();
      await server.stop();
    }
  }, 90_000);
});
