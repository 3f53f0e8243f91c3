import { baseEnvSchema, csvList, parseEnv, portVar } from '@deeplens/shared';
import { z } from 'zod';

export const apiEnvSchema = baseEnvSchema.extend({
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
