import { createPlatformStatusRepository, type DatabasePool, type Metrics } from '@deeplens/shared';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Redis } from 'ioredis';

const withTimeout = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([
    promise,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), ms).unref()),
  ]);

export const healthRoutes: FastifyPluginAsyncTypebox<{ pool: DatabasePool; redis: Redis; metrics: Metrics }> = async (
  app,
  { pool, redis, metrics },
) => {
  const platform = createPlatformStatusRepository(pool);
  app.get(
    '/healthz',
    { config: { access: 'public' }, schema: { tags: ['platform'], summary: 'Liveness: 200 while the process runs' } },
    async () => ({ status: 'ok' }),
  );

  app.get(
    '/readyz',
    {
      config: { access: 'public' },
      schema: { tags: ['platform'], summary: 'Readiness: 200 when PostgreSQL and Redis answer, else 503' },
    },
    async (_request, reply) => {
      const [postgres, redisState] = await Promise.all([
        withTimeout(platform.ping(), 1_000).then(
          () => 'up',
          () => 'down',
        ),
        withTimeout(redis.ping(), 1_000).then(
          () => 'up',
          () => 'down',
        ),
      ]);
      const ready = postgres === 'up' && redisState === 'up';
      return reply
        .code(ready ? 200 : 503)
        .send({ status: ready ? 'ready' : 'unavailable', postgres, redis: redisState });
    },
  );

  app.get(
    '/metrics',
    { config: { access: 'public' }, schema: { tags: ['platform'], summary: 'Prometheus metrics (text format)' } },
    async (_request, reply) =>
      reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
};
