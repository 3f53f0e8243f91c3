import { createProducerConnection, platformNames, withClient, withDatabase } from '@deeplens/shared';
import { httpApiClient, startService, testEnv, waitFor, type ServiceProcess } from '@deeplens/shared/testing';
import { freePort } from '../src/test-support/processes.js';

/**
 * The platform as it runs in production, each service its own process: the
 * API over real HTTP, the provisioner and the storage verifier. Their output
 * is kept, so tests can search every log line they wrote.
 */
export async function startPlatform(overrides: Record<string, string> = {}) {
  const port = await freePort();
  const env = testEnv({ HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'debug', ...overrides });
  const services: ServiceProcess[] = [];
  try {
    services.push(await startService('api', env));
    services.push(await startService('provisioner', env));
    services.push(await startService('storage-verifier', env));
  } catch (error) {
    await Promise.all(services.map((service) => service.stop()));
    throw error;
  }
  const base = `http://127.0.0.1:${port}`;

  const call = httpApiClient(base);

  return {
    env,
    call,
    /** The processes, by service name: tests check one is still running after an attack. */
    process: (name: 'api' | 'provisioner' | 'storage-verifier') => services[['api', 'provisioner', 'storage-verifier'].indexOf(name)]!,
    /** Every line the three services wrote so far. */
    logs: () => services.flatMap((service) => service.output).join('\n'),
    async job(jobId: string) {
      return (await call('GET', `/v1/jobs/${jobId}`)).json();
    },
    /** Polls the job until it is completed or failed, as a client would. */
    async waitForJob(jobId: string, timeoutMs = 60_000) {
      return waitFor(
        async () => {
          const job = (await call('GET', `/v1/jobs/${jobId}`)).json();
          return job.state === 'completed' || job.state === 'failed' ? job : undefined;
        },
        { timeoutMs, intervalMs: 50, what: `job ${jobId}` },
      );
    },
    async stop() {
      await Promise.all(services.map((service) => service.stop()));
    },
  };
}

export type Platform = Awaited<ReturnType<typeof startPlatform>>;

/** Every row of every table of the platform database, as text. */
export async function dumpPlatformDatabase(env: Record<string, string>): Promise<string> {
  const url = withDatabase(env.DATABASE_URL!, platformNames(env.DEEPLENS_DB_PREFIX!).platformDatabase);
  return withClient(url, async (client) => {
    const tables = await client.query<{ name: string }>(
      `SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) AS name
         FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`,
    );
    const parts: string[] = [];
    for (const { name } of tables.rows) {
      const { rows } = await client.query<{ row: string }>(`SELECT t::text AS row FROM ${name} t`);
      parts.push(`-- ${name}`, ...rows.map((row) => row.row));
    }
    return parts.join('\n');
  });
}

/** Every value under this run's queue prefix in Redis (job data, options, results, failures, events). */
export async function dumpRedis(env: Record<string, string>): Promise<string> {
  const redis = createProducerConnection(env.REDIS_URL!, { enableOfflineQueue: true, commandTimeout: 5_000 });
  try {
    const parts: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${env.DEEPLENS_QUEUE_PREFIX}:*`, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) {
        const type = await redis.type(key);
        const value =
          type === 'string' ? await redis.get(key)
          : type === 'hash' ? await redis.hgetall(key)
          : type === 'list' ? await redis.lrange(key, 0, -1)
          : type === 'set' ? await redis.smembers(key)
          : type === 'zset' ? await redis.zrange(key, 0, -1)
          : type === 'stream' ? await redis.xrange(key, '-', '+')
          : null;
        parts.push(`-- ${key}`, JSON.stringify(value));
      }
    } while (cursor !== '0');
    return parts.join('\n');
  } finally {
    redis.disconnect();
  }
}
