import { baseEnvSchema, csvList, parseEnv, portVar, positiveInt } from '@deeplens/shared';
import { z } from 'zod';

const apiEnvSchema = baseEnvSchema.extend({
  HOST: z.string().default('127.0.0.1'),
  PORT: portVar(8080),
  DEEPLENS_ADMIN_TOKENS: csvList,
  DEEPLENS_SERVICE_TOKENS: csvList,
  /** Requests an admin token may make per second before 429. */
  DEEPLENS_RATE_LIMIT_PER_SECOND: z.coerce.number().int().positive().default(2_000),
  /** Requests a service token may make per second; unset, service tokens (the platform's own traffic) are not limited. */
  DEEPLENS_SERVICE_RATE_LIMIT_PER_SECOND: z.coerce.number().int().positive().optional(),
  /** How long one Redis read of a tenant's quota answers further checks in this replica (0: read every time). */
  DEEPLENS_QUOTA_CACHE_MS: z.coerce.number().int().min(0).max(5_000).default(250),
  /** Count each token's (and each address's failed) requests in Redis, exactly across replicas, instead of in each replica's memory. */
  DEEPLENS_RATE_LIMIT_SHARED: z
    .enum(['true', 'false'])
    .default('false')
    .transform((value) => value === 'true'),
  /** Usage intake: single-event requests wait this long to share one usage.ingest job, at most this many events a job. */
  DEEPLENS_USAGE_COALESCE_MS: z.coerce.number().int().min(0).max(1_000).default(0),
  DEEPLENS_USAGE_COALESCE_MAX_EVENTS: z.coerce.number().int().min(1).max(5_000).default(1_000),
  /** How long the API trusts its in-process record that a tenant is live (changes announced on Redis end it sooner). */
  DEEPLENS_USAGE_TENANT_CACHE_TTL_MS: positiveInt(60_000),
});

export type ApiEnv = z.infer<typeof apiEnvSchema>;

export { DEVELOPMENT_ADMIN_TOKEN } from '@deeplens/shared';

export function loadApiEnv(source: NodeJS.ProcessEnv = process.env): ApiEnv {
  return parseEnv(apiEnvSchema, source, [
    (env) =>
      env.DEEPLENS_ADMIN_TOKENS.length === 0 && env.NODE_ENV !== 'development'
        ? 'DEEPLENS_ADMIN_TOKENS: at least one admin token is required unless NODE_ENV=development'
        : null,
    (env) =>
      env.DEEPLENS_ADMIN_TOKENS.some((token) => token.length < 16) ||
      env.DEEPLENS_SERVICE_TOKENS.some((token) => token.length < 16)
        ? 'DEEPLENS_ADMIN_TOKENS, DEEPLENS_SERVICE_TOKENS: every token must be at least 16 characters'
        : null,
  ]);
}
