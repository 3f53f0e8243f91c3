import { randomBytes } from 'node:crypto';
import type { TestProject } from 'vitest/node';
import { migratePlatform } from '../db/bootstrap.js';
import { createLogger } from '../logger.js';
import { deleteRedisKeys, dropPrefixedDatabases } from './cleanup.js';
import { resolveTestInfrastructure } from './infrastructure.js';

/**
 * Once per `npm test`: find PostgreSQL and Redis, choose a prefix for this run
 * so runs never collide, migrate the platform under it, and drop everything
 * with that prefix afterwards. Test files read the choice from the environment.
 */
export default async function setup(_project: TestProject) {
  const infrastructure = await resolveTestInfrastructure();
  const runId = randomBytes(3).toString('hex');
  const dbPrefix = `t${runId}_`;
  const queuePrefix = `test-${runId}`;
  Object.assign(process.env, {
    DATABASE_URL: infrastructure.databaseUrl,
    REDIS_URL: infrastructure.redisUrl,
    DEEPLENS_DB_PREFIX: dbPrefix,
    DEEPLENS_TEST_QUEUE_PREFIX: queuePrefix,
    NODE_ENV: 'test',
  });
  const log = createLogger({ name: 'test-setup', level: 'warn' });
  await migratePlatform(
    {
      DATABASE_URL: infrastructure.databaseUrl,
      DEEPLENS_DB_PREFIX: dbPrefix,
      DEEPLENS_PLATFORM_SERVICE_PASSWORD: undefined,
      DEEPLENS_TENANT_SERVICE_PASSWORD: undefined,
    },
    log,
  );

  return async () => {
    if (process.env.DEEPLENS_KEEP_TEST_DATA === '1') return;
    await dropPrefixedDatabases(infrastructure.databaseUrl, dbPrefix);
    await deleteRedisKeys(infrastructure.redisUrl, queuePrefix);
    await infrastructure.stop();
  };
}
