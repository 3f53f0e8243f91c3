import {
  apiCallsBody,
  errorSchema,
  eventsAcceptedSchema,
  followTenantChanges,
  type DatabasePool,
  type JobProducer,
} from '@deeplens/shared';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Redis } from 'ioredis';
import { createEventIntake, type IntakeSettings } from '../services/event-intake.js';

const errors = { 400: errorSchema, 401: errorSchema, 403: errorSchema, 413: errorSchema, 503: errorSchema };

export const eventsRoutes: FastifyPluginAsyncTypebox<{
  pool: DatabasePool;
  redis: Redis;
  producer: JobProducer;
  settings: IntakeSettings;
}> = async (app, { pool, redis, producer, settings }) => {
  const intake = createEventIntake({ pool, producer, settings });
  // A connection of its own for the subscription; it waits for Redis rather than failing fast.
  const subscriber = redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null, lazyConnect: false });
  const follower = followTenantChanges(subscriber, producer.prefix, {
    onChange: (tenantId) => intake.tenants.forget(tenantId),
    onResync: () => intake.tenants.clear(),
  });
  app.addHook('onClose', async () => {
    await intake.close();
    follower.close();
  });

  app.post(
    '/v1/events/api-calls',
    {
      config: { access: 'service' },
      schema: {
        tags: ['usage'],
        summary: 'Report API calls (one event or up to 1,000); each eventId counted once',
        description:
          'Report API calls served: one event or {"events": [...]} of at most 1,000. Each eventId is counted once, ever.',
        body: apiCallsBody,
        response: { 202: eventsAcceptedSchema, ...errors },
      },
    },
    async (request, reply) => {
      const accepted = await intake.accept(request.body);
      return reply.code(202).header('location', `/v1/jobs/${accepted.jobId}`).send(accepted);
    },
  );
};
