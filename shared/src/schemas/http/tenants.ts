import { Type, type Static } from '@sinclair/typebox';
import { storageInputSchema } from '../storage.js';
import { isoTime, nullable, uuidSchema } from './common.js';

const tenantNameSchema = Type.String({
  pattern: '^[a-z][a-z0-9-]{1,48}[a-z0-9]$',
  description: 'lowercase slug: a letter, then letters, digits or -, 3-50 characters',
});
/** A hostname: labels of letters, digits and -, at least one dot, no trailing dot. */
const domainSchema = Type.String({
  maxLength: 253,
  pattern: '^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\\.)+[a-zA-Z]{2,63}$',
  description: 'a hostname such as acme.com',
});
const planSchema = Type.Union([Type.Literal('free'), Type.Literal('premium'), Type.Literal('enterprise')]);
const tenantStatusSchema = Type.Union(
  ['provisioning', 'active', 'failed', 'suspended', 'deprovisioning', 'deleted'].map((status) => Type.Literal(status)),
);
const displayNameSchema = Type.String({ minLength: 1, maxLength: 200 });

export const createTenantBody = Type.Object(
  {
    name: tenantNameSchema,
    displayName: Type.Optional(displayNameSchema),
    domain: Type.Optional(domainSchema),
    plan: Type.Optional(planSchema),
    storage: Type.Optional(storageInputSchema),
  },
  { additionalProperties: false },
);
export type CreateTenantBody = Static<typeof createTenantBody>;

export const patchTenantBody = Type.Object(
  {
    plan: Type.Optional(planSchema),
    displayName: Type.Optional(nullable(displayNameSchema)),
    domain: Type.Optional(nullable(domainSchema)),
    status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('suspended')])),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type PatchTenantBody = Static<typeof patchTenantBody>;

export const listTenantsQuery = Type.Object(
  {
    plan: Type.Optional(planSchema),
    status: Type.Optional(tenantStatusSchema),
    limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);
export type ListTenantsQuery = Static<typeof listTenantsQuery>;

export const tenantParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) });
export const deleteTenantQuery = Type.Object(
  { confirm: Type.Optional(Type.String({ maxLength: 100 })) },
  { additionalProperties: false },
);

export const tenantSchema = Type.Object(
  {
    id: uuidSchema,
    name: Type.String(),
    displayName: nullable(Type.String()),
    domain: nullable(Type.String()),
    plan: Type.String(),
    status: Type.String(),
    statusReason: nullable(Type.String()),
    limits: Type.Object({
      storageBytes: Type.Number(),
      apiCallsPerMonth: Type.Number(),
      maxCollections: Type.Number(),
    }),
    databases: Type.Array(Type.Object({ type: Type.String(), name: Type.String() })),
    storage: nullable(
      Type.Object({
        provider: Type.String(),
        status: Type.String(),
        lastTestedAt: nullable(isoTime),
        lastError: nullable(Type.Object({ code: Type.String(), message: Type.String() })),
      }),
    ),
    createdAt: isoTime,
    updatedAt: isoTime,
  },
  { $id: 'Tenant' },
);

export const tenantListSchema = Type.Object({
  items: Type.Array(Type.Ref(tenantSchema)),
  nextCursor: nullable(Type.String()),
});

export const createTenantAccepted = Type.Object({
  tenantId: uuidSchema,
  jobId: uuidSchema,
  status: Type.Literal('provisioning'),
});
