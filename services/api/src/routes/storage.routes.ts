import { acceptedJobSchema, errorSchema, isoTime, nullable, storageInputSchema, tenantParams } from '@deeplens/shared';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { StorageService } from '../services/storage.service.js';

const errors = {
  400: errorSchema,
  401: errorSchema,
  403: errorSchema,
  404: errorSchema,
  409: errorSchema,
  503: errorSchema,
};

const verificationError = nullable(Type.Object({ code: Type.String(), message: Type.String() }));
const stepSchema = Type.Object({
  step: Type.String({ description: 'write, read, list or delete' }),
  ms: Type.Number(),
  ok: Type.Boolean(),
});

/** GET /v1/tenants/:id/storage: the contract's fields, plus the version, step timings and history. */
const storageViewSchema = Type.Object({
  provider: Type.String(),
  status: Type.String({ description: 'unverified | verifying | verified | failed' }),
  lastTestedAt: nullable(isoTime),
  lastError: verificationError,
  config: Type.Record(Type.String(), Type.Unknown(), { description: 'every secret field is "********"' }),
  version: Type.Integer({ description: 'bumped by every change of the config' }),
  isPlatformDefault: Type.Boolean(),
  steps: Type.Array(stepSchema, { description: 'the steps of the latest finished verification of this version' }),
  history: Type.Array(
    Type.Object({
      jobId: Type.String(),
      configVersion: Type.Integer(),
      reason: nullable(Type.String()),
      status: Type.String(),
      attempts: Type.Integer(),
      maxAttempts: Type.Integer(),
      error: verificationError,
      steps: Type.Array(stepSchema),
      totalMs: nullable(Type.Integer()),
      startedAt: isoTime,
      finishedAt: nullable(isoTime),
    }),
    { description: 'the most recent verifications, newest first' },
  ),
});

export const storageRoutes: FastifyPluginAsyncTypebox<{ storage: StorageService }> = async (app, { storage }) => {
  app.put(
    '/v1/tenants/:id/storage',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['storage'],
        summary: 'Set the tenant’s storage; 202 with its verification job',
        params: tenantParams,
        body: storageInputSchema,
        response: { 202: acceptedJobSchema, ...errors },
      },
    },
    async (request, reply) => {
      const accepted = await storage.put(request.params.id, request.body, request.principal.id);
      return reply.code(202).header('location', `/v1/jobs/${accepted.jobId}`).send(accepted);
    },
  );

  app.post(
    '/v1/tenants/:id/storage/test',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['storage'],
        summary: 'Verify the stored storage config again',
        params: tenantParams,
        response: { 202: acceptedJobSchema, ...errors },
      },
    },
    async (request, reply) => {
      const accepted = await storage.test(request.params.id, request.principal.id);
      return reply.code(202).header('location', `/v1/jobs/${accepted.jobId}`).send(accepted);
    },
  );

  app.get(
    '/v1/tenants/:id/storage',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['storage'],
        summary: 'The storage config (secrets masked), its status and verification history',
        params: tenantParams,
        response: { 200: storageViewSchema, ...errors },
      },
    },
    async (request) => storage.get(request.params.id),
  );
};
