import {
  createLogger,
  createMetrics,
  createOutbox,
  createProducerConnection,
  egressPolicyFromEnv,
  untilReady,
  JobProducer,
  keyringFromEnv,
  openPlatformPool,
  type Logger,
} from '@deeplens/shared';
import type { ApiDeps } from './app.js';
import { DEVELOPMENT_ADMIN_TOKEN, type ApiEnv } from './config.js';

/** Opens what the API needs; `close` releases it all. */
export async function openApiDeps(env: ApiEnv, log: Logger = createLogger({ name: 'api', level: env.LOG_LEVEL })) {
  // The public token only ever in development: loadApiEnv refuses an empty list elsewhere, and this is the second lock.
  const developmentToken = env.NODE_ENV === 'development' && env.DEEPLENS_ADMIN_TOKENS.length === 0;
  const adminTokens = developmentToken ? [DEVELOPMENT_ADMIN_TOKEN] : env.DEEPLENS_ADMIN_TOKENS;
  if (developmentToken) {
    log.warn(
      `development mode: no DEEPLENS_ADMIN_TOKENS set, accepting the public development token "${DEVELOPMENT_ADMIN_TOKEN}"`,
    );
  }
  if (!env.DEEPLENS_ENCRYPTION_KEY)
    log.warn('development mode: storage secrets are encrypted with a public development key');
  const pool = await openPlatformPool(env);
  const redis = createProducerConnection(env.REDIS_URL);
  // Start serving either way: until Redis answers, /readyz says 503 and writes that need it answer 503.
  if (!(await untilReady(redis, 3_000)))
    log.warn('Redis is not answering yet; writes that need it answer 503 until it does');
  const producer = new JobProducer(redis, env.DEEPLENS_QUEUE_PREFIX, env);
  const deps: ApiDeps = {
    env,
    log,
    pool,
    redis,
    producer,
    // Writes record their jobs here and answer with their ids; a queue that does not answer refuses them (503).
    outbox: createOutbox({ pool, producer, log, refuseWhileQueueDown: true }),
    keyring: keyringFromEnv(env),
    egress: egressPolicyFromEnv(env),
    metrics: createMetrics('api'),
    adminTokens,
    serviceTokens: env.DEEPLENS_SERVICE_TOKENS,
  };
  return {
    deps,
    async close() {
      await deps.producer.close().catch(() => undefined);
      redis.disconnect();
      await pool.end();
    },
  };
}
