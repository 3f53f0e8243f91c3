import { TEST_ADMIN_TOKEN } from './env.js';
import { waitFor } from './wait.js';

/**
 * The API over real HTTP (a started `api` process), as an operator's client
 * would call it: JSON in, the status and text out.
 */
export function httpApiClient(base: string, token: string = TEST_ADMIN_TOKEN) {
  return async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, text, json: () => JSON.parse(text) };
  };
}

/**
 * Waits on the API as a client would, through its HTTP contract. Both API
 * clients of the tests fit: the in-process one (`app.inject`) and the one
 * over real HTTP (`httpApiClient`, wrapped as `{ call }`).
 */
export interface ApiReader {
  call(method: 'GET', path: string): Promise<{ json(): any }>;
}
export interface ReadinessProbe {
  call(method: 'GET', path: '/readyz'): Promise<{ statusCode: number } | { status: number }>;
}

/** A job as GET /v1/jobs/:id answers it; tests read its result and error freely. */
export type JobAnswer = { id: string; state: string } & Record<string, any>;

/** Polls GET /v1/jobs/:id until the job is completed or failed, and returns it. */
export function waitForJob(api: ApiReader, jobId: string, { timeoutMs = 60_000 } = {}): Promise<JobAnswer> {
  return waitFor(
    async () => {
      const job = (await api.call('GET', `/v1/jobs/${jobId}`)).json() as JobAnswer;
      return job.state === 'completed' || job.state === 'failed' ? job : undefined;
    },
    { timeoutMs, what: `job ${jobId}` },
  );
}

/** Polls GET /readyz until it answers 200 (PostgreSQL and Redis both reachable). */
export async function waitForReady(
  api: ReadinessProbe,
  { what = 'the API ready', timeoutMs = 30_000 } = {},
): Promise<void> {
  await waitFor(
    async () => {
      const response = await api.call('GET', '/readyz');
      return ('statusCode' in response ? response.statusCode : response.status) === 200 ? true : undefined;
    },
    { timeoutMs, what },
  );
}
