import { errorSchema, platformStatusSchema, sql, type DatabasePool, type JobProducer, type TenantsRepository } from '@deeplens/shared';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { z } from 'zod';

/** The shared status schema, with the count of live tenants flagged for failed storage. */
const statusSchema = Type.Object({
  ...platformStatusSchema.properties,
  storage: Type.Object({
    byProvider: platformStatusSchema.properties.storage.properties.byProvider,
    flaggedTenants: Type.Integer({ description: 'tenants not deleted whose storage verification failed' }),
  }),
});

/** The platform at a glance, as Show-DeepLensStatus gave it. */
export const statusRoutes: FastifyPluginAsyncTypebox<{
  pool: DatabasePool;
  tenants: TenantsRepository;
  producer: JobProducer;
}> = async (app, { pool, tenants, producer }) => {
  app.get(
    '/v1/status',
    { config: { access: 'admin' }, schema: { tags: ['platform'], summary: 'The platform at a glance: tenants, queues, storage, this month’s API calls', response: { 200: statusSchema, 401: errorSchema, 403: errorSchema } } },
    async () => {
      const [tenantCounts, queues, storage, apiCalls] = await Promise.all([
        tenants.countsBy(),
        producer.counts(),
        pool.any(sql.type(z.object({ provider: z.string(), status: z.string(), n: z.number() }))`
          SELECT s.provider, s.status, count(*)::int AS n
            FROM tenant_storage_configs s JOIN tenants t ON t.id = s.tenant_id
           WHERE t.status <> 'deleted'
           GROUP BY s.provider, s.status`),
        pool.oneFirst(sql.type(z.object({ n: z.number() }))`
          SELECT coalesce(sum(api_calls), 0)::bigint AS n FROM usage_counters
           WHERE period = date_trunc('month', now() AT TIME ZONE 'UTC')::date`),
      ]);
      const storageByProvider: Record<string, Record<string, number>> = {};
      for (const row of storage) {
        storageByProvider[row.provider] = { ...storageByProvider[row.provider], [row.status]: row.n };
      }
      const queueCounts = Object.fromEntries(
        Object.entries(queues).map(([name, counts]) => [
          name,
          {
            waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
            active: counts.active ?? 0,
            delayed: counts.delayed ?? 0,
            failed: counts.failed ?? 0,
            completed: counts.completed ?? 0,
          },
        ]),
      );
      return {
        tenants: { byPlan: tenantCounts.byPlan, byStatus: tenantCounts.byStatus },
        queues: queueCounts,
        storage: {
          byProvider: storageByProvider,
          flaggedTenants: storage.reduce((sum, row) => sum + (row.status === 'failed' ? row.n : 0), 0),
        },
        usage: { month: new Date().toISOString().slice(0, 7), apiCalls },
      };
    },
  );
};
