import { errorSchema, isoTime, nullable, uuidSchema } from '@deeplens/shared';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { WebhooksService } from '../services/webhooks.service.js';

const errors = {
  400: errorSchema,
  401: errorSchema,
  403: errorSchema,
  404: errorSchema,
  409: errorSchema,
  503: errorSchema,
};

const subscriberSchema = Type.Object({
  id: uuidSchema,
  url: Type.String(),
  description: nullable(Type.String()),
  eventTypes: Type.Array(Type.String(), { description: 'empty: every event type' }),
  active: Type.Boolean(),
  createdAt: isoTime,
});

const createdSchema = Type.Composite([
  subscriberSchema,
  Type.Object({ secret: Type.String({ description: 'the signing secret: shown in this answer only' }) }),
]);

const createBody = Type.Object(
  {
    url: Type.String({ minLength: 8, maxLength: 2048, format: 'uri' }),
    eventTypes: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { maxItems: 50 })),
    description: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);

const idParams = Type.Object({ id: uuidSchema });

const deliveriesSchema = Type.Object({
  items: Type.Array(
    Type.Object({
      eventId: uuidSchema,
      eventType: Type.String(),
      attempt: Type.Integer(),
      outcome: Type.String({ description: 'delivered | failed' }),
      statusCode: nullable(Type.Integer()),
      durationMs: Type.Integer(),
      error: nullable(Type.String()),
      attemptedAt: isoTime,
    }),
  ),
});

export const webhooksRoutes: FastifyPluginAsyncTypebox<{ webhooks: WebhooksService }> = async (app, { webhooks }) => {
  app.post(
    '/v1/webhooks',
    {
      // The signing secret is shown once: an Idempotency-Key replay answers it as "********".
      config: { access: 'admin', secretResponseFields: ['secret'] },
      schema: { tags: ['webhooks'], body: createBody, response: { 201: createdSchema, ...errors } },
    },
    async (request, reply) => reply.code(201).send(await webhooks.create(request.body, request.principal.id)),
  );

  app.get(
    '/v1/webhooks',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['webhooks'],
        response: { 200: Type.Object({ items: Type.Array(subscriberSchema) }), ...errors },
      },
    },
    async () => webhooks.list(),
  );

  app.delete(
    '/v1/webhooks/:id',
    {
      config: { access: 'admin' },
      schema: { tags: ['webhooks'], params: idParams, response: { 204: Type.Null(), ...errors } },
    },
    async (request, reply) => {
      await webhooks.remove(request.params.id, request.principal.id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/v1/webhooks/:id/deliveries',
    {
      config: { access: 'admin' },
      schema: { tags: ['webhooks'], params: idParams, response: { 200: deliveriesSchema, ...errors } },
    },
    async (request) => webhooks.deliveries(request.params.id),
  );
};
