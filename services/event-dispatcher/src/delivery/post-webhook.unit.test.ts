import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EgressPolicy, guardedAgents } from '@deeplens/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postWebhook } from './post-webhook.js';

/**
 * The delivery client itself: a name that resolves to a refused address, and
 * IP literals in their several spellings, fail before any connection (a
 * loopback listener counts them), with endpoint_forbidden.
 */
let server: Server;
let port: number;
let connections = 0;

beforeAll(async () => {
  server = createServer((_request, response) => response.writeHead(204).end());
  server.on('connection', () => (connections += 1));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const send = (url: string, policy: EgressPolicy) => {
  const agents = guardedAgents(policy, { keepAlive: false });
  return postWebhook(new URL(url), agents, { headers: {}, body: '{}', timeoutMs: 2000 }).finally(() =>
    agents.destroy(),
  );
};

describe('postWebhook through the guarded agents', () => {
  it.each([
    'http://localhost:PORT/',
    'http://127.0.0.1:PORT/',
    'http://[::ffff:127.0.0.1]:PORT/',
    'http://[::ffff:7f00:1]:PORT/',
  ])('%s under a policy refusing loopback: endpoint_forbidden, no connection', async (template) => {
    await expect(send(template.replace('PORT', String(port)), new EgressPolicy())).rejects.toMatchObject({
      code: 'endpoint_forbidden',
    });
    expect(connections).toBe(0);
  });

  it('delivers when the operator allows the address, and reports only the status', async () => {
    expect(await send(`http://localhost:${port}/`, new EgressPolicy({ allow: ['127.0.0.0/8', '::1'] }))).toBe(204);
    expect(connections).toBe(1);
  });
});
