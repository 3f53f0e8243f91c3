import { Type } from '@sinclair/typebox';

export const errorSchema = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'snake_case error code' }),
      message: Type.String({ description: 'a human sentence' }),
      details: Type.Optional(Type.Array(Type.Unknown())),
    }),
  },
  { $id: 'Error', description: 'every error answer has this shape' },
);

export const uuidSchema = Type.String({ format: 'uuid' });
export const isoTime = Type.String({ format: 'date-time' });
export const nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) =>
  Type.Union([schema, Type.Null()]);

/** 202 answers of writes that start background work. */
export const acceptedJobSchema = Type.Object({ jobId: uuidSchema });

const countsByKey = Type.Record(Type.String(), Type.Integer());

export const platformStatusSchema = Type.Object({
  tenants: Type.Object({ byPlan: countsByKey, byStatus: countsByKey }),
  queues: Type.Record(
    Type.String(),
    Type.Object({
      waiting: Type.Integer(),
      active: Type.Integer(),
      delayed: Type.Integer(),
      failed: Type.Integer(),
      completed: Type.Integer(),
    }),
  ),
  storage: Type.Object({ byProvider: Type.Record(Type.String(), countsByKey) }),
  usage: Type.Object({ month: Type.String(), apiCalls: Type.Integer() }),
});

/**
 * JSON text that already has the shape of `T`, composed where the data lives
 * (PostgreSQL): an answer sends it as it is, without parsing it into objects
 * only to serialise them again. Only the type remembers the shape.
 */
export type JsonText<T> = string & { readonly __jsonOf?: T };
