import { FormatRegistry, Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { isRealInstant } from '../../usage/periods.js';
import { uuidSchema } from './common.js';

/**
 * The usage and quota part of the HTTP contract. Events are checked one by
 * one with TypeBox's compiler (the route needs the index of the first bad
 * event, which a whole-body schema cannot give), so the formats it uses are
 * registered here, as strict as PostgreSQL; the queue catalog checks events
 * with this same compiled schema.
 */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
if (!FormatRegistry.Has('uuid')) FormatRegistry.Set('uuid', (value) => UUID.test(value));
if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', isRealInstant);

export const MAX_EVENTS_PER_REQUEST = 1_000;

const apiCallEventSchema = Type.Object(
  {
    eventId: Type.String({ format: 'uuid', description: 'the idempotency key: an event sent again is counted once' }),
    tenantId: Type.String({ format: 'uuid' }),
    // No NUL and no lone surrogate: PostgreSQL refuses both in text, and one such event would fail
    // the job it shares with other callers' events after they were all accepted.
    endpoint: Type.String({
      minLength: 1,
      maxLength: 512,
      pattern: '^(?:[^\\u0000\\ud800-\\udfff]|[\\ud800-\\udbff][\\udc00-\\udfff])+$',
    }),
    method: Type.String({ minLength: 1, maxLength: 16, pattern: '^[A-Za-z]+$' }),
    statusCode: Type.Integer({ minimum: 100, maximum: 599 }),
    durationMs: Type.Integer({ minimum: 0, maximum: 2_147_483_647 }),
    requestBytes: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
    responseBytes: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
    occurredAt: Type.String({ format: 'date-time', description: 'ISO-8601 with a zone; counted in its UTC month' }),
  },
  { additionalProperties: false },
);
export type ApiCallEvent = Static<typeof apiCallEventSchema>;

/** The compiled check of one event: the intake, the producer and the aggregator all ask this. */
export const apiCallEventCheck = TypeCompiler.Compile(apiCallEventSchema);
export const isApiCallEvent = (value: unknown): value is ApiCallEvent => apiCallEventCheck.Check(value);

/**
 * The body as the route declares it: one event or `{events: [...]}`. Its
 * shape is only sketched here; each event is checked against
 * apiCallEventSchema by the intake so errors can name the event's index.
 */
export const apiCallsBody = Type.Object(
  {},
  {
    additionalProperties: true,
    description: 'one ApiCallEvent, or {"events": [ApiCallEvent, ...]} with at most 1,000 events',
  },
);

export const eventsAcceptedSchema = Type.Object({
  accepted: Type.Integer({ description: 'events in the request' }),
  jobId: uuidSchema,
});

export const usageQuery = Type.Object(
  {
    month: Type.Optional(
      Type.String({ pattern: '^\\d{4}-(0[1-9]|1[0-2])$', description: 'YYYY-MM, UTC; default: the current month' }),
    ),
  },
  { additionalProperties: false },
);

export const usageSchema = Type.Object({
  tenantId: uuidSchema,
  month: Type.String(),
  plan: Type.String(),
  apiCalls: Type.Object({ used: Type.Integer(), limit: Type.Integer(), remaining: Type.Integer() }),
  storage: Type.Object({ usedBytes: Type.Integer(), limitBytes: Type.Integer() }),
  collections: Type.Object({ used: Type.Integer(), limit: Type.Integer() }),
});
export type UsageView = Static<typeof usageSchema>;

export const quotaSchema = Type.Object({
  allowed: Type.Boolean(),
  apiCalls: Type.Object({ used: Type.Integer(), limit: Type.Integer(), remaining: Type.Integer() }),
  resetsAt: Type.String({ format: 'date-time', description: 'the first instant of the next UTC month' }),
});
