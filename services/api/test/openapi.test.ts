import { waitFor } from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from './helpers.js';
import { openApiText } from '../src/openapi-export.js';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repositoryRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/**
 * The OpenAPI document is generated from the routes themselves, so it cannot
 * drift from them: every route of the app (as Fastify's router lists it) is in
 * /docs/json, and every operation says what it answers.
 */
let api: TestApi;
beforeAll(async () => {
  api = await startTestApi();
  // These tests never touch Redis: let its connection finish connecting, so closing it is not a race.
  await waitFor(() => (api.deps.redis.status === 'ready' ? true : undefined), { what: 'Redis ready' });
});
afterAll(async () => {
  await api?.close();
});

const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** "METHOD /path/{param}" for every route in Fastify's router, from its printed tree. */
function routeTable(printed: string): Set<string> {
  const routes = new Set<string>();
  const stack: Array<{ depth: number; path: string }> = [];
  for (const line of printed.split('\n')) {
    const match = /^([\s│]*)(?:[├└]── )(\S+)(?: \(([^)]*)\))?/.exec(line);
    if (!match) continue;
    const depth = match[1]!.length;
    while (stack.length && stack[stack.length - 1]!.depth >= depth) stack.pop();
    const path = `${stack[stack.length - 1]?.path ?? ''}${match[2]}`;
    stack.push({ depth, path });
    for (const method of (match[3] ?? '').split(', ').filter((name) => HTTP_METHODS.includes(name))) {
      routes.add(`${method} ${path.replace(/:(\w+)/g, '{$1}')}`);
    }
  }
  return routes;
}

describe('OpenAPI 3.1 at /docs/json', () => {
  it('lists every route of the app, each operation with its responses', async () => {
    const response = await api.call('GET', '/docs/json', { token: null });
    expect(response.statusCode).toBe(200);
    const document = response.json();
    expect(document.openapi).toBe('3.1.0');

    const documented = new Set<string>();
    for (const [path, operations] of Object.entries(
      document.paths as Record<string, Record<string, { responses?: object }>>,
    )) {
      for (const [method, operation] of Object.entries(operations)) {
        if (!HTTP_METHODS.includes(method.toUpperCase())) continue;
        documented.add(`${method.toUpperCase()} ${path}`);
        expect(Object.keys(operation.responses ?? {}), `${method} ${path} has responses`).not.toHaveLength(0);
      }
    }
    // The docs and the queue board describe themselves (hidden); every other route is an API operation.
    const routes = [...routeTable(api.app.printRoutes({ commonPrefix: false }))].filter(
      (route) => !/ \/(docs|admin\/queues)(\/|$)/.test(route),
    );
    expect(routes.length).toBeGreaterThan(10);
    expect(routes).toContain('POST /v1/tenants');
    expect(routes).toContain('GET /v1/tenants/{id}/storage');
    expect([...documented].sort()).toEqual(routes.sort());

    // Shared schemas are components referenced by name, and every $ref resolves.
    expect(Object.keys(document.components.schemas)).toEqual(expect.arrayContaining(['Tenant', 'Error', 'Job']));
    const refs = JSON.stringify(document).match(/"\$ref":"[^"]+"/g) ?? [];
    for (const ref of new Set(refs)) {
      const name = /#\/components\/schemas\/(.+)"$/.exec(ref)?.[1];
      expect(name && document.components.schemas[name], ref).toBeTruthy();
    }
    expect(document.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('is committed as docs/openapi.json, exactly as the routes generate it (npm run openapi)', async () => {
    const committed = await readFile(resolve(repositoryRoot, 'docs/openapi.json'), 'utf8').catch(() => '');
    const generated = openApiText(api.app.swagger());
    // A diff of a 200 kB document is unreadable: name the first path that differs instead.
    if (committed !== generated) {
      const before = JSON.parse(committed || '{"paths":{}}') as { paths: Record<string, unknown> };
      const after = JSON.parse(generated) as { paths: Record<string, unknown> };
      const changed = [...new Set([...Object.keys(before.paths), ...Object.keys(after.paths)])].filter(
        (path) => JSON.stringify(before.paths[path]) !== JSON.stringify(after.paths[path]),
      );
      expect.fail(
        `docs/openapi.json is stale (paths that differ: ${changed.join(', ') || 'components or info'}): run npm run openapi`,
      );
    }
  });

  it('serves the UI at /docs without a token', async () => {
    const page = await api.call('GET', '/docs', { token: null });
    // The UI answers at /docs (directly or by redirecting to its static page).
    expect([200, 302]).toContain(page.statusCode);
    const html =
      page.statusCode === 302 ? await api.call('GET', page.headers.location as string, { token: null }) : page;
    expect(html.statusCode).toBe(200);
    expect(html.body).toMatch(/swagger/i);
  });
});
