import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

const DOCS_PREFIX = '/docs';

/**
 * OpenAPI 3.1 generated from the routes' own TypeBox schemas, at /docs/json
 * (and /docs/yaml), with Swagger UI at /docs. Both are public, as the contract
 * says. Registered before the routes (it collects them as they are added) and
 * before the auth plugin, whose start-up check wants every route to declare
 * its access: the UI plugin's routes do not, so they are declared public here.
 */
async function openApiPlugin(app: FastifyInstance) {
  app.addHook('onRoute', (route) => {
    if (route.url === DOCS_PREFIX || route.url.startsWith(`${DOCS_PREFIX}/`)) {
      route.config = { ...(route.config as object), access: 'public' };
    }
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'DeepLens control plane',
        version: '1.0.0',
        description:
          'Tenants, bring-your-own storage, jobs, usage and quotas. Writes that start background work answer 202 with a jobId; follow it at GET /v1/jobs/{jobId}.',
      },
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description: 'an admin token, or a service token for events and quota checks',
          },
        },
      },
      security: [{ bearer: [] }],
      tags: [
        { name: 'tenants', description: 'create, list, change and remove tenants' },
        { name: 'storage', description: 'bring your own storage: configure and verify' },
        { name: 'jobs', description: 'background work started by writes' },
        { name: 'usage', description: 'API-call events, usage by month, the quota check' },
        { name: 'backups', description: 'tenant and platform database backups, and restores' },
        { name: 'webhooks', description: 'subscribers of the domain events' },
        { name: 'platform', description: 'status, health, readiness and metrics' },
      ],
    },
    // Shared schemas (Tenant, Error, Job) become components named by their $id.
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, index) =>
        String((json as { $id?: string }).$id ?? `def-${index}`),
    },
  });

  await app.register(swaggerUi, { routePrefix: DOCS_PREFIX });
}

export default fp(openApiPlugin, { name: 'openapi' });
