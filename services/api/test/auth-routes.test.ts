import { TEST_SERVICE_TOKEN, testEnv, waitForReady } from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from './helpers.js';

/**
 * Auth, checked from the route table itself: every route the app serves is
 * enumerated (so a route added tomorrow is covered without editing this file)
 * and must refuse a missing, an unknown and a malformed token with 401, and a
 * service token with 403 unless the contract lets services call it. Only the
 * contract's public routes answer without a token.
 */
const env = testEnv();
let api: TestApi;
let routes: Array<{ method: string; url: string }>;

beforeAll(async () => {
  api = await startTestApi(env);
  await waitForReady(api, { what: 'the API ready' });
  routes = routeTable(api.app.printRoutes({ commonPrefix: false }));
});
afterAll(async () => {
  await api?.close();
});

/** The routes of `printRoutes({ commonPrefix: false })`: each line a path segment under its parent, with its methods. */
function routeTable(printed: string): Array<{ method: string; url: string }> {
  const stack: string[] = [];
  const table: Array<{ method: string; url: string }> = [];
  for (const line of printed.split('\n')) {
    const match = /^((?:[│ ] {3})*)[├└]── (.*?) \(([A-Z, ]+)\)$/.exec(line);
    if (!match) continue;
    const depth = match[1]!.length / 4;
    stack.length = depth;
    const url = `${stack.join('')}${match[2]}`;
    stack.push(match[2]!);
    for (const method of match[3]!.split(', ')) table.push({ method, url });
  }
  return table;
}

const isPublic = (url: string) =>
  ['/healthz', '/readyz', '/metrics'].includes(url) || url === '/docs' || url.startsWith('/docs/');
/** What the contract lets a service token call. */
const isServiceRoute = (method: string, url: string) =>
  (method === 'POST' && url.startsWith('/v1/events/')) ||
  (['GET', 'HEAD'].includes(method) && url === '/v1/tenants/:id/quota');

/** A concrete URL for a route pattern: every parameter a UUID, a wildcard a plain segment. */
const concrete = (url: string) =>
  url.replace(/:[A-Za-z]+/g, '00000000-0000-4000-8000-000000000000').replace(/\*$/, 'anything');

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
// Each request from a loopback address of its own: failed authentications are limited per
// address (429 after 20 in a second), which rate-limit-kinds.test.ts tests; here every refusal is the 401.
let sent = 0;
const nextAddress = () => {
  sent += 1;
  return `127.0.${(sent >> 8) & 255}.${sent & 255}`;
};
const send = (method: string, url: string, authorization?: string) =>
  api.app.inject({
    method: method as Method,
    url: concrete(url),
    remoteAddress: nextAddress(),
    headers: authorization ? { authorization } : {},
  });

describe('auth from the route table', () => {
  it('enumerates the whole API, including the contract routes', () => {
    const urls = new Set(routes.map((route) => `${route.method} ${route.url}`));
    for (const expected of [
      'POST /v1/tenants',
      'GET /v1/tenants/:id',
      'PUT /v1/tenants/:id/storage',
      'GET /v1/jobs/:jobId',
      'POST /v1/events/api-calls',
      'GET /healthz',
    ]) {
      expect(urls).toContain(expected);
    }
    expect(routes.length).toBeGreaterThan(20);
  });

  it('refuses a missing, unknown or malformed token with 401 on every route but the public ones', async () => {
    const open: string[] = [];
    for (const { method, url } of routes.filter((route) => !isPublic(route.url))) {
      for (const authorization of [
        undefined,
        'Bearer not-a-token-of-this-installation',
        'Basic dGVzdDp0ZXN0',
        `Bearer ${'x'.repeat(4096)}`,
        'Bearer',
      ]) {
        const response = await send(method, url, authorization);
        const body = method === 'HEAD' ? null : response.json();
        if (response.statusCode !== 401 || (body && body.error?.code !== 'unauthorized')) {
          open.push(`${method} ${url} with ${authorization?.slice(0, 20) ?? 'no token'} → ${response.statusCode}`);
        }
      }
    }
    expect(open).toEqual([]);
  });

  it('refuses a service token with 403 everywhere except event intake and the quota check', async () => {
    const open: string[] = [];
    for (const { method, url } of routes.filter(
      (route) => !isPublic(route.url) && !isServiceRoute(route.method, route.url),
    )) {
      const response = await send(method, url, `Bearer ${TEST_SERVICE_TOKEN}`);
      // The contract's routes (/v1) answer 403 exactly; an operator tool mounted beside them (a queue
      // board with its own login) must refuse the service token too, and may say so with its 401.
      const refused = url.startsWith('/v1/') ? [403] : [401, 403];
      if (
        !refused.includes(response.statusCode) ||
        (url.startsWith('/v1/') && method !== 'HEAD' && response.json().error?.code !== 'forbidden')
      ) {
        open.push(`${method} ${url} → ${response.statusCode}`);
      }
    }
    expect(open).toEqual([]);
  });

  it('lets a service token reach event intake and the quota check (past auth: the answer is about the input)', async () => {
    for (const { method, url } of routes.filter((route) => isServiceRoute(route.method, route.url))) {
      const response = await send(method, url, `Bearer ${TEST_SERVICE_TOKEN}`);
      expect([400, 404, 415], `${method} ${url}`).toContain(response.statusCode);
    }
  });

  it('serves the public routes without a token', async () => {
    for (const url of ['/healthz', '/readyz', '/metrics']) expect((await send('GET', url)).statusCode).toBe(200);
  });
});
