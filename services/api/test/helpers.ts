import { platformNames, serviceEnvironment, withClient, withDatabase } from '@deeplens/shared';
import { TEST_ADMIN_TOKEN, testEnv, waitForJob } from '@deeplens/shared/testing';
import type { LightMyRequestResponse } from 'fastify';
import { buildApp } from '../src/app.js';
import { loadApiEnv } from '../src/config.js';
import { openApiDeps } from '../src/deps.js';

export type TestApi = Awaited<ReturnType<typeof startTestApi>>;

/** The API in-process (no port), against this run's databases and a queue prefix of its own. */
export async function startTestApi(env: Record<string, string> = testEnv(), adminToken = TEST_ADMIN_TOKEN) {
  // As `npm start` gives it: the platform database as platform_service, no admin DATABASE_URL.
  const apiEnv = loadApiEnv(serviceEnvironment('api', env));
  const { deps, close } = await openApiDeps(apiEnv);
  const app = await buildApp(deps);
  await app.ready();

  const call = (
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    url: string,
    options: { body?: unknown; token?: string | null; headers?: Record<string, string>; rawBody?: string } = {},
  ): Promise<LightMyRequestResponse> => {
    const headers: Record<string, string> = { ...options.headers };
    const token = options.token === undefined ? adminToken : options.token;
    if (token) headers.authorization = `Bearer ${token}`;
    if (options.body !== undefined) headers['content-type'] ??= 'application/json';
    return app.inject({
      method,
      url,
      headers,
      ...(options.rawBody !== undefined
        ? { payload: options.rawBody }
        : options.body !== undefined
          ? { payload: JSON.stringify(options.body) }
          : {}),
    });
  };

  return {
    app,
    env,
    deps,
    call,
    /** Polls the job until it is completed or failed, as a client would. */
    waitForJob: (jobId: string, timeoutMs = 60_000) => waitForJob({ call }, jobId, { timeoutMs }),
    async close() {
      await app.close();
      await close();
    },
  };
}

/**
 * One-off queries on this run's platform database, each on a connection of its
 * own: `server` is another PostgreSQL's URL for the fault tests that run a
 * private one.
 */
export function platformQuery(env: Record<string, string>, server: string = env.DATABASE_URL!) {
  const url = withDatabase(server, platformNames(env.DEEPLENS_DB_PREFIX!).platformDatabase);
  return <T>(text: string, values: unknown[] = []) =>
    withClient(url, async (client) => (await client.query(text, values)).rows as T[]);
}
