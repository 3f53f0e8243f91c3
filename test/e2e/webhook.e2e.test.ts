import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createProducerConnection,
  domainEventId,
  readDomainEvents,
  signWebhook,
  verifyWebhookSignature,
} from '@deeplens/shared';
import { startService, testEnv, uniqueName, waitFor, type ServiceProcess } from '@deeplens/shared/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../services/api/test/helpers.js';

/**
 * Events out: the provisioner publishes domain events after its commits, the
 * event dispatcher (a process) fans them out to webhook subscribers, and a
 * local HTTP receiver checks every signature as a real receiver would.
 * Retries use a 100 ms backoff base, set by env.
 */

const env = testEnv({ DEEPLENS_WEBHOOK_ATTEMPTS: '5', DEEPLENS_WEBHOOK_BACKOFF_MS: '100' });
let api: TestApi;
let services: ServiceProcess[] = [];
let redis: Redis;

interface Received {
  path: string;
  eventId: string;
  type: string;
  body: string;
  signature: string;
  verdict: string;
  status: number;
}
const received: Received[] = [];
const secrets = new Map<string, string>();
let failuresLeft = 2;
let receiver: Server;
let base: string;

const readBody = async (request: IncomingMessage) => {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
};

beforeAll(async () => {
  receiver = createServer(async (request, response) => {
    const body = await readBody(request);
    const path = request.url ?? '/';
    const signature = String(request.headers['deeplens-signature'] ?? '');
    const check = verifyWebhookSignature(secrets.get(path) ?? '', body, signature);
    let status = check.ok ? 204 : 400;
    if (check.ok && path === '/flaky' && failuresLeft > 0) {
      failuresLeft -= 1;
      status = 500;
    }
    received.push({
      path,
      eventId: String(request.headers['deeplens-event-id']),
      type: String(request.headers['deeplens-event-type']),
      body,
      signature,
      verdict: check.ok ? 'ok' : check.reason,
      status,
    });
    response.writeHead(status).end();
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  api = await startTestApi(env);
  redis = createProducerConnection(env.REDIS_URL!, { enableOfflineQueue: true });
  services = await Promise.all([startService('provisioner', env), startService('event-dispatcher', env)]);
});

afterAll(async () => {
  await Promise.all(services.map((service) => service.stop()));
  redis?.disconnect();
  await api?.close();
  await new Promise((resolve) => receiver?.close(resolve));
});

async function subscribe(path: string, eventTypes?: string[]) {
  const created = await api.call('POST', '/v1/webhooks', {
    body: { url: `${base}${path}`, ...(eventTypes ? { eventTypes } : {}) },
  });
  expect(created.statusCode, created.body).toBe(201);
  const subscriber = created.json();
  expect(subscriber.secret).toMatch(/^whsec_/);
  secrets.set(path, subscriber.secret);
  return subscriber as { id: string; secret: string };
}

async function provision() {
  const created = await api.call('POST', '/v1/tenants', { body: { name: uniqueName('hook') } });
  expect(created.statusCode, created.body).toBe(202);
  expect((await api.waitForJob(created.json().jobId)).state).toBe('completed');
  return created.json().tenantId as string;
}

describe('events out', () => {
  it('never shows a subscriber secret after creation, and refuses unknown event types', async () => {
    const subscriber = await subscribe('/listed');
    const listed = await api.call('GET', '/v1/webhooks');
    expect(listed.statusCode).toBe(200);
    expect(listed.json().items.find((item: { id: string }) => item.id === subscriber.id)).toMatchObject({
      url: `${base}/listed`,
      active: true,
    });
    expect(listed.body).not.toContain(subscriber.secret);
    const bad = await api.call('POST', '/v1/webhooks', { body: { url: `${base}/x`, eventTypes: ['tenant.exploded'] } });
    expect(bad.statusCode).toBe(400);
    expect((await api.call('DELETE', `/v1/webhooks/${subscriber.id}`)).statusCode).toBe(204);
    expect((await api.call('DELETE', `/v1/webhooks/${subscriber.id}`)).statusCode).toBe(404);
  });

  it('provisioning a tenant puts tenant.provisioned on the stream, with an id derived from the tenant', async () => {
    const tenantId = await provision();
    const event = await waitFor(async () =>
      (await readDomainEvents(redis, env.DEEPLENS_QUEUE_PREFIX!)).find(
        (entry) => entry.event.type === 'tenant.provisioned' && entry.event.tenantId === tenantId,
      ),
    );
    expect(event.event).toMatchObject({
      version: 1,
      id: domainEventId('tenant.provisioned', tenantId),
      data: { plan: 'free' },
    });
  });

  it('signs each delivery; the receiver accepts it and rejects the same body replayed with an old timestamp', async () => {
    await subscribe('/signed');
    const tenantId = await provision();
    const delivery = await waitFor(() =>
      received.find(
        (entry) => entry.path === '/signed' && entry.type === 'tenant.provisioned' && entry.body.includes(tenantId),
      ),
    );
    expect(delivery.verdict).toBe('ok');
    expect(delivery.signature).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(delivery.eventId).toBe(domainEventId('tenant.provisioned', tenantId));
    expect(JSON.parse(delivery.body)).toMatchObject({ type: 'tenant.provisioned', tenantId });

    // A replay: the captured body, correctly signed, but ten minutes old.
    const stale = signWebhook(secrets.get('/signed')!, delivery.body, Math.floor(Date.now() / 1000) - 600);
    const replay = await fetch(`${base}/signed`, {
      method: 'POST',
      body: delivery.body,
      headers: { 'deeplens-signature': stale },
    });
    expect(replay.status).toBe(400);
    expect(received.at(-1)!.verdict).toBe('expired');
    // And a body changed in transit does not match its signature.
    const forged = await fetch(`${base}/signed`, {
      method: 'POST',
      body: delivery.body.replace('free', 'enterprise'),
      headers: { 'deeplens-signature': delivery.signature },
    });
    expect(forged.status).toBe(400);
    expect(received.at(-1)!.verdict).toBe('mismatch');
  });

  it('retries a receiver that fails twice: delivered on the third attempt, all three attempts logged', async () => {
    const subscriber = await subscribe('/flaky');
    const tenantId = await provision();
    const eventId = domainEventId('tenant.provisioned', tenantId);
    const log = await waitFor(async () => {
      const { items } = (await api.call('GET', `/v1/webhooks/${subscriber.id}/deliveries`)).json();
      const attempts = items.filter((item: { eventId: string }) => item.eventId === eventId);
      return attempts.some((item: { outcome: string }) => item.outcome === 'delivered') ? attempts : undefined;
    });
    expect(
      log
        .map((item: { attempt: number; outcome: string; statusCode: number }) => [
          item.attempt,
          item.outcome,
          item.statusCode,
        ])
        .reverse(),
    ).toEqual([
      [1, 'failed', 500],
      [2, 'failed', 500],
      [3, 'delivered', 204],
    ]);
    expect(log.every((item: { error: string | null }) => !item.error?.includes(subscriber.secret))).toBe(true);
    expect(received.filter((entry) => entry.path === '/flaky' && entry.eventId === eventId)).toHaveLength(3);
  });

  it('a filtered subscriber receives only its event types', async () => {
    await subscribe('/only-deprovisioned', ['tenant.deprovisioned']);
    await subscribe('/everything');
    const tenantId = await provision();
    const name = (await api.call('GET', `/v1/tenants/${tenantId}`)).json().name;
    const removed = await api.call('DELETE', `/v1/tenants/${tenantId}?confirm=${name}`);
    expect(removed.statusCode, removed.body).toBe(202);
    expect((await api.waitForJob(removed.json().jobId)).state).toBe('completed');

    const typesAt = (path: string) =>
      received.filter((entry) => entry.path === path && entry.body.includes(tenantId)).map((entry) => entry.type);
    await waitFor(() =>
      typesAt('/everything').includes('tenant.deprovisioned') && typesAt('/only-deprovisioned').length > 0
        ? true
        : undefined,
    );
    expect(typesAt('/everything').sort()).toEqual(['tenant.deprovisioned', 'tenant.provisioned']);
    expect(typesAt('/only-deprovisioned')).toEqual(['tenant.deprovisioned']);
  });
});
