import {
  acceptedJobSchema,
  createTenantAccepted,
  createTenantBody,
  deleteTenantQuery,
  errorSchema,
  listTenantsQuery,
  patchTenantBody,
  tenantListSchema,
  tenantParams,
  tenantSchema,
} from '@deeplens/shared';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { TenantsService } from '../services/tenants.service.js';
import { sendJsonText } from '../http/json-text.js';

const errors = { 400: errorSchema, 401: errorSchema, 403: errorSchema, 404: errorSchema, 409: errorSchema };

export const tenantsRoutes: FastifyPluginAsyncTypebox<{ tenants: TenantsService }> = async (app, { tenants }) => {
  app.post(
    '/v1/tenants',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['tenants'],
        summary: 'Create a tenant; 202 with its provisioning job',
        body: createTenantBody,
        response: { 202: createTenantAccepted, ...errors },
      },
    },
    async (request, reply) => {
      const accepted = await tenants.create(request.body, request.principal.id);
      return reply.code(202).header('location', `/v1/jobs/${accepted.jobId}`).send(accepted);
    },
  );

  app.get(
    '/v1/tenants',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['tenants'],
        summary: 'List tenants by plan and status, with cursor pagination',
        querystring: listTenantsQuery,
        response: { 200: tenantListSchema, ...errors },
      },
    },
    async (request, reply) => sendJsonText(reply, await tenants.list(request.query)),
  );

  app.get(
    '/v1/tenants/:id',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['tenants'],
        summary: 'One tenant, by id or name',
        params: tenantParams,
        response: { 200: tenantSchema, ...errors },
      },
    },
    async (request, reply) => sendJsonText(reply, await tenants.get(request.params.id)),
  );

  app.patch(
    '/v1/tenants/:id',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['tenants'],
        summary: 'Change plan, names, domain, or suspend',
        params: tenantParams,
        body: patchTenantBody,
        response: { 200: tenantSchema, ...errors },
      },
    },
    async (request, reply) =>
      sendJsonText(reply, await tenants.update(request.params.id, request.body, request.principal.id)),
  );

  app.delete(
    '/v1/tenants/:id',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['tenants'],
        summary: 'Remove a tenant (confirm=<name>); 202 with its deprovisioning job',
        params: tenantParams,
        querystring: deleteTenantQuery,
        response: { 202: acceptedJobSchema, ...errors },
      },
    },
    async (request, reply) => {
      const accepted = await tenants.remove(request.params.id, request.query.confirm, request.principal.id);
      return reply.code(202).header('location', `/v1/jobs/${accepted.jobId}`).send(accepted);
    },
  );
};
