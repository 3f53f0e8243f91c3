import { AppError } from '@deeplens/shared';
import type { FastifyInstance, FastifyReply } from 'fastify';
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

/** A key's count in its current window, and the milliseconds until the window ends. */
interface Hit {
  count: number;
  ttlMs: number;
}

const WINDOW_MS = 1_000;

/** Fixed one-second windows per principal in this process; a bounded map (principals are a handful of tokens). */
function memoryCounter(maxKeys = 10_000) {
  const windows = new Map<string, { count: number; endsAt: number }>();
  return (principal: string): Hit => {
    const now = Date.now();
    let window = windows.get(principal);
    if (!window || window.endsAt <= now) {
      if (!window && windows.size >= maxKeys) windows.delete(windows.keys().next().value!);
      window = { count: 0, endsAt: now + WINDOW_MS };
      windows.set(principal, window);
    }
    window.count += 1;
    return { count: window.count, ttlMs: window.endsAt - now };
  };
}

/**
 * The same windows in Redis, one script per request: INCR, and the window's
 * expiry set by whoever opened it. A key someone set with a longer expiry
 * (an operator blocking a token for a minute) keeps it.
 */
function redisCounter(redis: Redis, keyPrefix: string) {
  const script = `
    local count = redis.call('INCR', KEYS[1])
    local ttl = redis.call('PTTL', KEYS[1])
    if ttl < 0 then
      redis.call('PEXPIRE', KEYS[1], ARGV[1])
      ttl = tonumber(ARGV[1])
    end
    return {count, ttl}`;
  return async (principal: string): Promise<Hit> => {
    const key = `${keyPrefix}:ratelimit:${principal}`;
    const [count, ttlMs] = (await redis.eval(script, 1, key, WINDOW_MS)) as [number, number];
    return { count, ttlMs };
  };
}

/**
 * Per-token rate limiting: in memory per replica by default, or shared by
 * every replica through Redis (DEEPLENS_RATE_LIMIT_SHARED=true). The quota
 * check is the hot path of every DeepLens request; the shared store costs it
 * a Redis round trip (a script) per request, so it is a choice.
 *
 * One callback-style hook, after the auth hook, so the key is the
 * principal's fingerprint (`admin:<12 hex of sha256>`), never the token
 * itself; a request without a valid token was already refused. The in-memory
 * count answers synchronously: @fastify/rate-limit, which this replaces, cost
 * every request an async hook and four more promises, and the quota check
 * made 0.53-0.61x the hello route with it against 0.74x without it (bench,
 * same runs). Public routes (health, readiness, metrics, docs) are never
 * limited, so a probe keeps working during a flood. A Redis that does not
 * answer lets the request through: the limiter protects the API, it must not
 * be the reason it fails; routes that need Redis answer 503 themselves.
 */
async function rateLimitPlugin(app: FastifyInstance, options: RateLimitOptions) {
  // In memory the count is synchronous, so the hook answers within the same turn.
  const count: (principal: string) => Hit | Promise<Hit> = options.redis
    ? redisCounter(options.redis, options.keyPrefix)
    : memoryCounter();

  /** The request's error when over the limit, with the draft-spec headers and Retry-After; null otherwise. */
  const verdict = (reply: FastifyReply, hit: Hit): AppError | null => {
    if (hit.count <= options.perSecond) return null;
    const seconds = Math.max(1, Math.ceil(hit.ttlMs / 1000));
    reply.header('retry-after', String(seconds));
    reply.header('x-ratelimit-limit', String(options.perSecond));
    reply.header('x-ratelimit-remaining', '0');
    reply.header('x-ratelimit-reset', String(seconds));
    return new AppError('rate_limited', `this token made more than ${options.perSecond} requests in a second; retry in ${seconds} s`);
  };

  app.addHook('onRequest', (request, reply, done) => {
    if ((request.routeOptions.config as { access?: string }).access === 'public') return done();
    const principal = request.principal?.id ?? 'anonymous';
    const hit = count(principal);
    if (!(hit instanceof Promise)) return done(verdict(reply, hit) ?? undefined);
    hit.then(
      (counted) => done(verdict(reply, counted) ?? undefined),
      () => done(), // Redis away: let the request through
    );
  });
}

export default fp(rateLimitPlugin, { name: 'rate-limit', dependencies: ['auth'] });
