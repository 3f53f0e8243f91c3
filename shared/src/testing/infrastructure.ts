import { existsSync } from 'node:fs';
import { connect } from 'node:net';

/**
 * Where the tests' PostgreSQL and Redis are: the ones DATABASE_URL and
 * REDIS_URL name; else containers where a Docker engine answers; else the
 * local services at their default addresses.
 */
export interface TestInfrastructure {
  databaseUrl: string;
  redisUrl: string;
  stop(): Promise<void>;
}

const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

async function dockerAnswers(): Promise<boolean> {
  const socket = process.env.DOCKER_HOST?.startsWith('unix://')
    ? process.env.DOCKER_HOST.slice('unix://'.length)
    : '/var/run/docker.sock';
  if (!process.env.DOCKER_HOST && !existsSync(socket)) return false;
  if (process.env.DOCKER_HOST && !process.env.DOCKER_HOST.startsWith('unix://')) return true;
  return new Promise((resolve) => {
    const client = connect(socket, () => {
      client.write('GET /_ping HTTP/1.0\r\n\r\n');
    });
    client.setTimeout(1_000, () => {
      client.destroy();
      resolve(false);
    });
    client.on('data', (data) => {
      client.destroy();
      resolve(data.toString().includes('200 OK'));
    });
    client.on('error', () => resolve(false));
  });
}

export async function resolveTestInfrastructure(): Promise<TestInfrastructure> {
  const fromEnv = { databaseUrl: process.env.DATABASE_URL, redisUrl: process.env.REDIS_URL };
  if (fromEnv.databaseUrl && fromEnv.redisUrl) {
    return { databaseUrl: fromEnv.databaseUrl, redisUrl: fromEnv.redisUrl, stop: async () => undefined };
  }
  if (await dockerAnswers()) {
    const [{ PostgreSqlContainer }, { RedisContainer }] = await Promise.all([
      import('@testcontainers/postgresql'),
      import('@testcontainers/redis'),
    ]);
    const [postgres, redis] = await Promise.all([
      fromEnv.databaseUrl ? null : new PostgreSqlContainer('postgres:15-alpine').withUsername('postgres').start(),
      fromEnv.redisUrl ? null : new RedisContainer('redis:7-alpine').start(),
    ]);
    return {
      databaseUrl: fromEnv.databaseUrl ?? postgres!.getConnectionUri(),
      redisUrl: fromEnv.redisUrl ?? redis!.getConnectionUrl(),
      stop: async () => {
        await Promise.all([postgres?.stop(), redis?.stop()]);
      },
    };
  }
  return {
    databaseUrl: fromEnv.databaseUrl ?? DEFAULT_DATABASE_URL,
    redisUrl: fromEnv.redisUrl ?? DEFAULT_REDIS_URL,
    stop: async () => undefined,
  };
}
