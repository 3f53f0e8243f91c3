import { AppError, BoundedMap } from '@deeplens/shared';
import type { FastifyReply } from 'fastify';
import type { Redis } from 'ioredis';

/** The contract's number: requests from one address that may fail authentication in a second. */
const FAILED_AUTH_PER_SECOND = 20;

export interface RateLimitOptions {
  /** Requests one admin token may make per second. */
  adminPerSecond: number;
  /** Requests one service token may make per second; absent, service tokens are not limited. */
  servicePerSecond?: number | undefined;
  /** Requests from one client address that may fail authentication per second. */
  failedAuthPerSecond?: number;
  /**
   * Given, every replica counts in the same Redis keys (exact across replicas,
   * one Redis round trip per counted request); absent, each replica counts in
   * memory (no round trip: a token may make up to replicas × its limit).
   */
  redis?: Redis | undefined;
  /** Keys live under the installation's prefix, outside BullMQ's `<prefix>:<queue>:` namespaces. */
  keyPrefix: string;
}

/** Fastify's hook callback: an error refuses the request, nothing lets it through. */
type Done = (error?: AppError) => void;

export interface RateLimiter {
  /** An authenticated request, counted against its token under that token's kind's limit. */
  admit(principal: { kind: 'admin' | 'service'; id: string }, reply: FastifyReply, done: Done): void;
  /**
   * A request that failed authentication, counted against its client address:
   * `rate_limited` once the address is over the limit, `refusal` (the 401) otherwise.
   */
  refuse(address: string, reply: FastifyReply, refusal: AppError | undefined, done: Done): void;
}

/** A key's count in its current window, and the milliseconds until the window ends. */
interface Hit {
  count: number;
  ttlMs: number;
}

type Counter = (key: string) => Hit | Promise<Hit>;

const WINDOW_MS = 1_000;

/** Who went over, and what it made too many of, for the 429's message. */
type Subject = readonly [string, string];
const TOKEN: Subject = ['token', 'requests'];
const ADDRESS: Subject = ['address', 'requests without a valid token'];

/**
 * Fixed one-second windows per key in this process, in a bounded map. Tokens
 * and addresses get a map each, so a flood from many addresses cannot evict a
 * token's window and hand it a fresh allowance.
 */
function memoryCounter(maxKeys: number): Counter {
  const windows = new BoundedMap<string, { count: number; endsAt: number }>(maxKeys);
  return (key) => {
    const now = Date.now();
    let window = windows.get(key);
    if (!window) {
      window = { count: 0, endsAt: now + WINDOW_MS };
      windows.set(key, window);
    } else if (window.endsAt <= now) {
      // A new window for a key already held: reused in place, no allocation and no reordering.
      window.count = 0;
      window.endsAt = now + WINDOW_MS;
    }
    window.count += 1;
    return { count: window.count, ttlMs: window.endsAt - now };
  };
}

/**
 * The same windows in Redis, one script per request: INCR, and the window's
 * expiry set by whoever opened it. A key someone set with a longer expiry
 * (an operator blocking a token or an address for a minute) keeps it.
 */
function redisCounter(redis: Redis, keyPrefix: string): Counter {
  const script = `
    local count = redis.call('INCR', KEYS[1])
    local ttl = redis.call('PTTL', KEYS[1])
    if ttl < 0 then
      redis.call('PEXPIRE', KEYS[1], ARGV[1])
      ttl = tonumber(ARGV[1])
    end
    return {count, ttl}`;
  return async (key) => {
    const [count, ttlMs] = (await redis.eval(script, 1, `${keyPrefix}:ratelimit:${key}`, WINDOW_MS)) as [
      number,
      number,
    ];
    return { count, ttlMs };
  };
}

/**
 * Rate limits by kind, as the contract puts them: admin tokens per token;
 * service tokens, which carry the platform's own traffic, only when a limit
 * is configured (otherwise they cost nothing here: no count, no lookup);
 * requests that fail authentication per client address. Keys are the
 * principal's fingerprint (`admin:<12 hex of sha256>`) or `address:<ip>`,
 * never a token.
 *
 * The auth hook calls this after it has identified the token, so a valid
 * token is never refused because its address sent bad ones: its own kind's
 * limit is the only one it meets. In memory the count answers synchronously,
 * within the hook's turn: @fastify/rate-limit cost every request an async
 * hook and four more promises, and the quota check made 0.53-0.61x the hello
 * route with it against 0.74x without (bench, same runs). A Redis that does
 * not answer lets the request through (to its 401 if it failed
 * authentication): the limiter protects the API, it must not be the reason
 * it fails; routes that need Redis answer 503 themselves.
 */
export function createRateLimiter(options: RateLimitOptions): RateLimiter {
  const failedAuthPerSecond = options.failedAuthPerSecond ?? FAILED_AUTH_PER_SECOND;
  const tokens = options.redis ? redisCounter(options.redis, options.keyPrefix) : memoryCounter(1_000);
  const addresses = options.redis ? tokens : memoryCounter(10_000);
  const limits = { admin: options.adminPerSecond, service: options.servicePerSecond ?? 0 };

  /** The request's error when over the limit, with the draft-spec headers and Retry-After; null otherwise. */
  const verdict = (reply: FastifyReply, hit: Hit, limit: number, who: Subject): AppError | null => {
    if (hit.count <= limit) return null;
    const seconds = Math.max(1, Math.ceil(hit.ttlMs / 1000));
    reply.header('retry-after', String(seconds));
    reply.header('x-ratelimit-limit', String(limit));
    reply.header('x-ratelimit-remaining', '0');
    reply.header('x-ratelimit-reset', String(seconds));
    return new AppError(
      'rate_limited',
      `this ${who[0]} made more than ${limit} ${who[1]} in a second; retry in ${seconds} s`,
    );
  };

  const settle = (
    hit: Hit | Promise<Hit>,
    reply: FastifyReply,
    limit: number,
    who: Subject,
    otherwise: AppError | undefined,
    done: Done,
  ) => {
    if (!(hit instanceof Promise)) return done(verdict(reply, hit, limit, who) ?? otherwise);
    hit.then(
      (counted) => done(verdict(reply, counted, limit, who) ?? otherwise),
      () => done(otherwise), // Redis away: as if under the limit
    );
  };

  return {
    admit(principal, reply, done) {
      const limit = limits[principal.kind];
      if (limit === 0) return done();
      settle(tokens(principal.id), reply, limit, TOKEN, undefined, done);
    },
    refuse(address, reply, refusal, done) {
      settle(addresses(`address:${address}`), reply, failedAuthPerSecond, ADDRESS, refusal, done);
    },
  };
}
