import { hash, timingSafeEqual } from 'node:crypto';
import { AppError, BoundedMap } from '@deeplens/shared';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { RateLimiter } from './rate-limit.js';

/**
 * Who may call a route is declared on the route (`config.access`) and checked
 * here for every request, so a route without a declaration is refused at
 * start-up rather than left open.
 *   public  — no token (health, readiness, metrics, docs)
 *   admin   — admin tokens only
 *   service — admin or service tokens (event intake, quota checks)
 * The same hook applies the rate limits: a token's by its kind once it is
 * known, its address's once it has failed.
 */
type Access = 'public' | 'admin' | 'service';

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    principal: { kind: 'admin' | 'service' | 'anonymous'; id: string };
  }
}

// crypto.hash is the one-shot form: no Hash object per request on the hot path.
const digest = (token: string) => hash('sha256', token, 'buffer');

const ANONYMOUS = Object.freeze({ kind: 'anonymous' as const, id: 'anonymous' });

interface AuthOptions {
  adminTokens: readonly string[];
  serviceTokens: readonly string[];
  limiter: RateLimiter;
}

async function authPlugin(app: FastifyInstance, options: AuthOptions) {
  // Compare digests of equal length in constant time; the fingerprint names a token in logs without revealing it.
  const known = [
    ...options.adminTokens.map((token) => ({ kind: 'admin' as const, digest: digest(token) })),
    ...options.serviceTokens.map((token) => ({ kind: 'service' as const, digest: digest(token) })),
  ];

  type Principal = { kind: 'admin' | 'service'; id: string };
  // Authorization headers that carried a known token, and whom they name: the digest and
  // comparisons run once per header value, not per request. Only known tokens get in, so
  // the map holds a handful of entries; a flood of spelling variants just cycles through it.
  const recognised = new BoundedMap<string, Principal>(256);

  const identify = (request: FastifyRequest): Principal | null => {
    const header = request.headers.authorization;
    if (typeof header !== 'string') return null;
    const cached = recognised.get(header);
    if (cached) return cached;
    const principal = identifyHeader(header);
    if (principal) recognised.set(header, principal);
    return principal;
  };

  const identifyHeader = (header: string): Principal | null => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) return null;
    const presented = digest(match[1]!);
    let found: (typeof known)[number] | null = null;
    for (const candidate of known) {
      // No early exit: every header not yet recognised costs the same comparisons whatever the token.
      if (timingSafeEqual(candidate.digest, presented) && !found) found = candidate;
    }
    return found ? { kind: found.kind, id: `${found.kind}:${presented.toString('hex').slice(0, 12)}` } : null;
  };

  app.decorateRequest('principal', null as never);

  app.addHook('onRoute', (route) => {
    const access = (route.config as { access?: Access } | undefined)?.access;
    if (!access) throw new Error(`route ${route.method} ${route.url} does not declare config.access`);
  });

  // Callback style: it runs on every request, and an async hook costs a promise and a microtask turn.
  // Identify first, limit second: a valid token meets only its own kind's limit, however many bad
  // ones its address sent; a bad one is counted against its address, and past the limit answered 429.
  app.addHook('onRequest', (request, reply, done) => {
    const access = request.routeOptions.config.access ?? 'admin';
    const principal = identify(request);
    request.principal = principal ?? ANONYMOUS;
    if (access === 'public') return done();
    if (!principal)
      return options.limiter.refuse(
        request.ip,
        reply,
        new AppError('unauthorized', 'a valid bearer token is required'),
        done,
      );
    if (access === 'admin' && principal.kind !== 'admin') {
      return done(new AppError('forbidden', 'this token may only post events and read quotas'));
    }
    options.limiter.admit(principal, reply, done);
  });
}

export default fp(authPlugin, { name: 'auth' });
