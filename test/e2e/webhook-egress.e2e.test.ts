import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { webhookDeliveriesRepository } from '@deeplens/shared';
import { enqueueJob, startService, testEnv, waitFor, type ServiceProcess } from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../services/api/test/helpers.js';

/**
 * Issue #13 at delivery: a webhook URL accepted at registration (loopback was
 * allowed then) is delivered by a dispatcher whose policy refuses loopback: no
 * connection is made, the attempt is recorded failed with endpoint_forbidden
 * and not retried. A receiver answering 302 gets a failed attempt; the place
 * it redirects to is never contacted. The jobs are enqueued directly (as the
 * fan-out would), and the subscribers listen to an event type no other test
 * file's dispatcher produces, so only these dispatchers may reach them.
 */
const ONLY_TYPE = 'tenant.provisioning_failed';
const loose = testEnv({ DEEPLENS_WEBHOOK_ATTEMPTS: '3', DEEPLENS_WEBHOOK_BACKOFF_MS: '100' });
// The API and the strict dispatcher share a queue prefix, so the API shows the dispatcher's jobs.
const strict = {
  ...testEnv({ DEEPLENS_WEBHOOK_ATTEMPTS: '3', DEEPLENS_WEBHOOK_BACKOFF_MS: '100' }),
  DEEPLENS_EGRESS_ALLOW: '',
};
let api: TestApi;
const services: ServiceProcess[] = [];

interface Listener {
  server: Server;
  url: string;
  connections: number;
  requests: number;
}

async function listen(
  handler: (respond: (status: number, headers?: Record<string, string>) => void) => void,
): Promise<Listener> {
  const listener = { connections: 0, requests: 0 } as Listener;
  listener.server = createServer((request, response) => {
    listener.requests += 1;
    request.resume();
    handler((status, headers) => response.writeHead(status, headers).end('a body the platform must never record'));
  });
  listener.server.on('connection', () => (listener.connections += 1));
  await new Promise<void>((resolve) => listener.server.listen(0, '127.0.0.1', resolve));
  listener.url = `http://127.0.0.1:${(listener.server.address() as AddressInfo).port}`;
  return listener;
}

const listeners: Listener[] = [];

beforeAll(async () => {
  api = await startTestApi({ ...strict, DEEPLENS_EGRESS_ALLOW: '127.0.0.0/8' });
  services.push(await startService('event-dispatcher', strict), await startService('event-dispatcher', loose));
});

afterAll(async () => {
  await Promise.all(services.map((service) => service.stop()));
  await api?.close();
  await Promise.all(listeners.map((listener) => new Promise((resolve) => listener.server.close(resolve))));
});

async function subscribe(url: string): Promise<string> {
  const created = await api.call('POST', '/v1/webhooks', { body: { url, eventTypes: [ONLY_TYPE] } });
  expect(created.statusCode, created.body).toBe(201);
  return created.json().id;
}

async function storeEvent(): Promise<string> {
  const id = randomUUID();
  await webhookDeliveriesRepository.storeEvent(api.deps.pool, {
    id,
    type: ONLY_TYPE,
    body: { type: ONLY_TYPE, id, data: {} },
  });
  return id;
}

const deliveriesOf = async (subscriberId: string) =>
  (await api.call('GET', `/v1/webhooks/${subscriberId}/deliveries`)).json().items;

describe('webhook deliveries under the egress policy', () => {
  it('a subscriber on loopback, delivered by a dispatcher that refuses loopback: no connection, endpoint_forbidden, not retried', async () => {
    const target = await listen((respond) => respond(204));
    listeners.push(target);
    // https: the strict dispatcher's scheme rule passes, so the address is what refuses it.
    const subscriberId = await subscribe(`${target.url.replace('http:', 'https:')}/hook`);
    const eventId = await storeEvent();
    const jobId = await enqueueJob(strict, 'webhook.deliver', { subscriberId, eventId });

    const job = await api.waitForJob(jobId);
    expect(job).toMatchObject({ state: 'failed', attempts: 1, error: { code: 'endpoint_forbidden' } });
    expect(job.error.message).toMatch(/loopback address 127\.0\.0\.1 .* is not reachable for tenant endpoints/);
    expect(target.connections).toBe(0);
    const attempts = await deliveriesOf(subscriberId);
    expect(attempts).toHaveLength(1);
    expect(attempts[0]).toMatchObject({
      attempt: 1,
      outcome: 'failed',
      statusCode: null,
      error: expect.stringContaining('is not reachable for tenant endpoints'),
    });
  });

  it('a receiver answering 302 fails the attempt; the redirect target sees nothing and no body is recorded', async () => {
    const elsewhere = await listen((respond) => respond(200));
    const redirecting = await listen((respond) => respond(302, { location: `${elsewhere.url}/internal` }));
    listeners.push(elsewhere, redirecting);
    const subscriberId = await subscribe(`${redirecting.url}/hook`);
    const eventId = await storeEvent();
    await enqueueJob(loose, 'webhook.deliver', { subscriberId, eventId });

    const attempts = await waitFor(
      async () => {
        const items = await deliveriesOf(subscriberId);
        return items.length >= 2 ? items : undefined;
      },
      { what: 'two delivery attempts' },
    );
    for (const attempt of attempts) {
      expect(attempt).toMatchObject({
        outcome: 'failed',
        statusCode: 302,
        error: 'the receiver answered HTTP 302; redirects are not followed',
      });
    }
    expect(redirecting.requests).toBeGreaterThanOrEqual(2);
    expect(elsewhere.connections).toBe(0);
    expect(JSON.stringify(attempts)).not.toContain('must never record');
  });
});
