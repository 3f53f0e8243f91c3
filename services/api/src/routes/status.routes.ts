import {
  createPlatformStatusRepository,
  errorSchema,
  platformStatusSchema,
  type DatabasePool,
  type JobProducer,
} from '@deeplens/shared';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';

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
  producer: JobProducer;
}> = async (app, { pool, producer }) => {
  const platform = createPlatformStatusRepository(pool);
  app.get(
    '/v1/status',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['platform'],
        summary: 'The platform at a glance: tenants, queues, storage, this month’s API calls',
        response: { 200: statusSchema, 401: errorSchema, 403: errorSchema },
      },
    },
    async () => {
      const [counts, queues] = await Promise.all([platform.counts(), producer.counts()]);
      const { tenants: tenantRows, storage, api_calls: apiCalls } = counts;
      const tenantCounts = { byPlan: {} as Record<string, number>, byStatus: {} as Record<string, number> };
      for (const row of tenantRows) {
        if (row.status !== 'deleted') tenantCounts.byPlan[row.plan] = (tenantCounts.byPlan[row.plan] ?? 0) + row.n;
        tenantCounts.byStatus[row.status] = (tenantCounts.byStatus[row.status] ?? 0) + row.n;
      }
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
