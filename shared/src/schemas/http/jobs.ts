import { Type } from '@sinclair/typebox';
import { isoTime, nullable } from './common.js';

export const jobSchema = Type.Object(
  {
    id: Type.String(),
    type: Type.String(),
    tenantId: nullable(Type.String()),
    state: Type.Union(['waiting', 'active', 'delayed', 'completed', 'failed'].map((state) => Type.Literal(state))),
    attempts: Type.Integer(),
    maxAttempts: Type.Integer(),
    progress: Type.Unknown(),
    result: Type.Unknown(),
    error: nullable(Type.Object({ code: Type.String(), message: Type.String() })),
    createdAt: isoTime,
    startedAt: nullable(isoTime),
    finishedAt: nullable(isoTime),
  },
  { $id: 'Job' },
);

export const jobParams = Type.Object({ jobId: Type.String({ maxLength: 100 }) });
