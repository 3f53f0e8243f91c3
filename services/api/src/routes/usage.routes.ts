import { errorSchema, quotaSchema, tenantParams, usageQuery, usageSchema } from '@deeplens/shared';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { UsageService } from '../services/usage.service.js';

const errors = { 400: errorSchema, 401: errorSchema, 403: errorSchema, 404: errorSchema, 503: errorSchema };

export const usageRoutes: FastifyPluginAsyncTypebox<{ usage: UsageService }> = async (app, { usage }) => {
  app.get(
    '/v1/tenants/:id/usage',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['usage'],
        summary: 'Usage of a month against the plan',
        params: tenantParams,
        querystring: usageQuery,
        response: { 200: usageSchema, ...errors },
      },
    },
    async (request) => usage.usage(request.params.id, request.query.month),
  );

  app.get(
    '/v1/tenants/:id/quota',
    {
      // Other DeepLens services ask this before serving each request.
      config: { access: 'service' },
      schema: {
        tags: ['usage'],
        summary: 'The fast quota check services make before serving a request',
        params: tenantParams,
        response: { 200: quotaSchema, ...errors },
      },
    },
    async (request) => usage.quota(request.params.id),
  );
};
