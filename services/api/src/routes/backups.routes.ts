import { acceptedJobSchema, errorSchema, isoTime, nullable, tenantParams, uuidSchema } from '@deeplens/shared';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { BackupsService } from '../services/backups.service.js';

const errors = {
  400: errorSchema,
  401: errorSchema,
  403: errorSchema,
  404: errorSchema,
  409: errorSchema,
  503: errorSchema,
};

/** 202 answers carry the job (as every write that starts work) and, beside it, the id of what it makes. */
const acceptedBackup = Type.Composite([acceptedJobSchema, Type.Object({ backupId: uuidSchema })]);
const acceptedRestore = Type.Composite([acceptedJobSchema, Type.Object({ restoreId: uuidSchema })]);

const backupListSchema = Type.Object({
  items: Type.Array(
    Type.Object({
      id: uuidSchema,
      createdAt: isoTime,
      sizeBytes: nullable(Type.Integer({ description: 'known once completed' })),
      sha256: nullable(Type.String({ description: 'hex SHA-256 of the stored object, known once completed' })),
      storageKey: Type.String({
        description: "the object's key in the tenant's storage: backups/<timestamp>-<id>.dump",
      }),
      status: Type.String({ description: 'pending | running | completed | failed' }),
    }),
  ),
});

const restoreBody = Type.Object(
  {
    backupId: uuidSchema,
    swap: Type.Optional(
      Type.Boolean({
        description: "true: the restored database replaces the tenant's, the old one kept as <name>_pre_restore_<id>",
      }),
    ),
  },
  { additionalProperties: false },
);

export const backupsRoutes: FastifyPluginAsyncTypebox<{ backups: BackupsService }> = async (app, { backups }) => {
  app.post(
    '/v1/tenants/:id/backups',
    {
      config: { access: 'admin' },
      schema: { tags: ['backups'], params: tenantParams, response: { 202: acceptedBackup, ...errors } },
    },
    async (request, reply) => {
      const accepted = await backups.backup(request.params.id, request.principal.id);
      return reply.code(202).header('location', `/v1/jobs/${accepted.jobId}`).send(accepted);
    },
  );

  app.get(
    '/v1/tenants/:id/backups',
    {
      config: { access: 'admin' },
      schema: { tags: ['backups'], params: tenantParams, response: { 200: backupListSchema, ...errors } },
    },
    async (request) => backups.list(request.params.id),
  );

  app.post(
    '/v1/tenants/:id/restore',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['backups'],
        params: tenantParams,
        body: restoreBody,
        response: { 202: acceptedRestore, ...errors },
      },
    },
    async (request, reply) => {
      const accepted = await backups.restore(request.params.id, request.body, request.principal.id);
      return reply.code(202).header('location', `/v1/jobs/${accepted.jobId}`).send(accepted);
    },
  );

  app.post(
    '/v1/platform/backups',
    { config: { access: 'admin' }, schema: { tags: ['backups'], response: { 202: acceptedBackup, ...errors } } },
    async (request, reply) => {
      const accepted = await backups.backupPlatform(request.principal.id);
      return reply.code(202).header('location', `/v1/jobs/${accepted.jobId}`).send(accepted);
    },
  );
};
