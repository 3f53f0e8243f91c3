import rateLimit from '@fastify/rate-limit';
import { AppError } from '@deeplens/shared';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Redis } from 'ioredis';

export interface RateLimitOptions {
  /** Requests one token may make per second. */
  perSecond: number;
  /**
   * Given, every replica counts in the same Redis keys (exact across replicas,
   * one Redis round trip per request); absent, each replica counts in memory
   * (no round trip: a token may make up to replicas × perSecond requests).
   */
  redis?: Redis;
  /** Keys live under the installation's prefix, outside BullMQ's `<prefix>:<queue>:` namespaces. */
  keyPrefix: string;
}

/**
 * Per-token rate limiting: in memory per replica by default, or shared by
 * every replica through Redis (DEEPLENS_RATE_LIMIT_SHARED=true). The quota
 * check is the hot path of every DeepLens request; the shared store costs it
 * a Redis round trip (a Lua script) per request, so it is a choice.
 *
 * It runs after the auth hook (route-level `onRequest` hooks follow the app's),
 * so the key is the principal's fingerprint (`admin:<12 hex of sha256>`), never
 * the token itself; a request without a valid token was already refused.
 * Public routes (health, readiness, metrics, docs) are never limited, so a
 * probe keeps working during a flood. A Redis that does not answer lets the
 * request through (`skipOnError`): the limiter protects the API, it must not
 * be the reason it fails; routes that need Redis answer 503 themselves.
 */
async function rateLimitPlugin(app: FastifyInstance, options: RateLimitOptions) {
  await app.register(rateLimit, {
    global: true,
    hook: 'onRequest',
    max: options.perSecond,
    timeWindow: 1_000,
    ...(options.redis ? { redis: options.redis } : {}),
    nameSpace: `${options.keyPrefix}:ratelimit:`,
    skipOnError: true,
    keyGenerator: (request) => request.principal?.id ?? 'anonymous',
    allowList: (request) => (request.routeOptions.config as { access?: string }).access === 'public',
    // The draft-spec headers on every answer would only add noise; Retry-After on a 429 is what clients need.
    addHeadersOnExceeding: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false },
    addHeaders: { 'x-ratelimit-limit': true, 'x-ratelimit-remaining': true, 'x-ratelimit-reset': true, 'retry-after': true },
    errorResponseBuilder: (_request, context) =>
      new AppError('rate_limited', `this token made more than ${context.max} requests in a second; retry in ${context.after}`),
  });
}

export default fp(rateLimitPlugin, { name: 'rate-limit', dependencies: ['auth'] });
