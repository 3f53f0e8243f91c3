import { randomUUID } from 'node:crypto';
import { platformNames, readDomainEvents, withDatabase, type DomainEvent } from '@deeplens/shared';
import { uniqueName } from '@deeplens/shared/testing';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { TestApi } from '../../services/api/test/helpers.js';

/**
 * Fixtures of the usage tests: tenants written straight into the platform
 * database (as active, without a tenant database, which metering does not
 * need), events, and ways to wait for the aggregator by polling.
 */
export async function openPlatform(env: Record<string, string>) {
  const client = new pg.Client({
    connectionString: withDatabase(env.DATABASE_URL!, platformNames(env.DEEPLENS_DB_PREFIX!).platformDatabase),
  });
  client.on('error', () => undefined);
  await client.connect();
  return {
    client,
    async insertTenants(count: number, { plan = 'premium', status = 'active' } = {}): Promise<string[]> {
      const ids = Array.from({ length: count }, () => randomUUID());
      await client.query(
        `INSERT INTO tenants (id, name, plan, status)
         SELECT id, name, $3, $4 FROM unnest($1::uuid[], $2::text[]) AS t(id, name)`,
        [ids, ids.map(() => uniqueName('meter')), plan, status],
      );
      return ids;
    },
    async count(sqlText: string, params: unknown[] = []): Promise<number> {
      const { rows } = await client.query(sqlText, params);
      return Number(rows[0].n);
    },
    close: () => client.end(),
  };
}
export type Platform = Awaited<ReturnType<typeof openPlatform>>;

/** Posts events (one request per element: an event or an array for a batch); returns the job ids, checking each 202. */
export async function postEvents(api: TestApi, requests: Array<unknown>, token?: string): Promise<string[]> {
  const responses = await Promise.all(
    requests.map((body) =>
      api.call('POST', '/v1/events/api-calls', {
        body: Array.isArray(body) ? { events: body } : body,
        ...(token ? { token } : {}),
      }),
    ),
  );
  return responses.map((response) => {
    if (response.statusCode !== 202) throw new Error(`expected 202, got ${response.statusCode}: ${response.body}`);
    return response.json().jobId as string;
  });
}

/** Waits until every job has finished, and fails unless each one completed. */
export async function waitForJobs(api: TestApi, jobIds: readonly string[]) {
  const jobs = [];
  for (const jobId of new Set(jobIds)) jobs.push(await api.waitForJob(jobId));
  for (const job of jobs)
    if (job.state !== 'completed') throw new Error(`job ${job.id} ${job.state}: ${JSON.stringify(job.error)}`);
  return jobs;
}

export async function quotaOf(api: TestApi, tenantId: string) {
  const response = await api.call('GET', `/v1/tenants/${tenantId}/quota`);
  if (response.statusCode !== 200) throw new Error(`quota ${response.statusCode}: ${response.body}`);
  return response.json();
}

export async function usageOf(api: TestApi, tenantId: string, month?: string) {
  const response = await api.call('GET', `/v1/tenants/${tenantId}/usage${month ? `?month=${month}` : ''}`);
  if (response.statusCode !== 200) throw new Error(`usage ${response.statusCode}: ${response.body}`);
  return response.json();
}

/** The domain events of one tenant on the installation's stream. */
export async function domainEventsOf(env: Record<string, string>, tenantId: string): Promise<DomainEvent[]> {
  const redis = new Redis(env.REDIS_URL!, { maxRetriesPerRequest: 3 });
  try {
    const entries = await readDomainEvents(redis, env.DEEPLENS_QUEUE_PREFIX!, { count: 100_000 });
    return entries.map((entry) => entry.event).filter((event) => event.tenantId === tenantId);
  } finally {
    redis.disconnect();
  }
}

export const monthOfDate = (date: Date) => date.toISOString().slice(0, 7);
