import { createHash } from 'node:crypto';
import { AppError, conflict, keyedDigest, MASK, validationFailed, type Keyring } from '@deeplens/shared';
import type { FastifyInstance, FastifyReply, FastifyRequest, onSendHookHandler, preHandlerHookHandler } from 'fastify';
import fp from 'fastify-plugin';
import type { IdempotencyRepository } from '../repositories/idempotency.repository.js';
import { MAX_JSON_DEPTH } from './json-body.js';

/**
 * `Idempotency-Key` on writes: the same key with the same request answers the
 * first response again (same ids, same status); the same key with a different
 * request is a 409. Keys are scoped to the token that used them.
 *
 * Nothing secret is kept for the replay. The request is remembered as a keyed
 * digest (HMAC under a key derived from the keyring), so a stored fingerprint
 * of a body holding storage passwords cannot be tested against guesses; and a
 * route whose answer carries a secret names those fields in its config
 * (`secretResponseFields`), which are stored, and so replayed, as "********".
 */
declare module 'fastify' {
  interface FastifyRequest {
    idempotencyKey: string | null;
  }
  interface FastifyContextConfig {
    /** Top-level fields of this route's answer that hold a secret: shown once, masked in replays. */
    secretResponseFields?: readonly string[];
  }
}

const KEY_PATTERN = /^[\x21-\x7e]{1,200}$/;
const REPLAYED_HEADERS = ['location'];

/**
 * Key order does not change the request. Bounded depth: the JSON body parser
 * already refuses deeper bodies, and this stays safe whatever calls it.
 */
function canonical(value: unknown, depth = 0): string {
  if (depth > MAX_JSON_DEPTH) throw validationFailed(`the body is nested deeper than ${MAX_JSON_DEPTH} levels`);
  if (Array.isArray(value)) return `[${value.map((item) => canonical(item, depth + 1)).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key], depth + 1)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

const LEGACY_SHA256 = /^[0-9a-f]{64}$/;

/**
 * Whether a stored fingerprint is of this request. It names the key it was
 * made with, so a key rotation within the 24 hours does not turn a replay into
 * a 409 while that key is in the keyring. Fingerprints stored before keyed
 * digests (bare SHA-256) still compare until they expire.
 */
function sameRequest(keyring: Keyring, stored: string, fingerprint: string, text: string): boolean {
  if (stored === fingerprint) return true;
  if (LEGACY_SHA256.test(stored)) return createHash('sha256').update(text).digest('hex') === stored;
  const keyId = stored.slice(0, stored.lastIndexOf('.'));
  return keyring.byId.has(keyId) && keyedDigest(keyring, text, keyId) === stored;
}

/** The answer as kept for replays: the route's secret fields masked. */
function storedBody(body: unknown, secretFields: readonly string[] | undefined): unknown {
  if (!secretFields?.length || !body || typeof body !== 'object' || Array.isArray(body)) return body;
  const masked: Record<string, unknown> = { ...(body as Record<string, unknown>) };
  for (const field of secretFields) if (field in masked) masked[field] = MASK;
  return masked;
}

function idempotencyPlugin(app: FastifyInstance, options: { repository: IdempotencyRepository; keyring: Keyring }) {
  const { repository, keyring } = options;
  app.decorateRequest('idempotencyKey', null);

  const claim = async (request: FastifyRequest, reply: FastifyReply) => {
    const header = request.headers['idempotency-key'];
    if (header === undefined || !WRITE_METHODS.has(request.method)) return;
    if (typeof header !== 'string' || !KEY_PATTERN.test(header)) {
      throw validationFailed('Idempotency-Key must be 1-200 visible ASCII characters');
    }
    const key = `${request.principal.id}:${header}`;
    const text = `${request.method} ${request.url}\n${canonical(request.body ?? null)}`;
    const requestHash = keyedDigest(keyring, text);
    let outcome = await repository.claim(key, request.principal.id, requestHash);
    // Same request under an older key, whose first try died: reclaim it under the fingerprint it was stored with.
    const died = outcome.claimed ? null : outcome.existing;
    if (
      died?.state === 'pending' &&
      died.stale &&
      died.request_hash !== requestHash &&
      sameRequest(keyring, died.request_hash, requestHash, text)
    ) {
      outcome = await repository.claim(key, request.principal.id, died.request_hash);
    }
    if (outcome.claimed) {
      request.idempotencyKey = key;
      return;
    }
    const existing = outcome.existing;
    if (!existing) throw new AppError('conflict', 'this Idempotency-Key is being reused; try again');
    if (!sameRequest(keyring, existing.request_hash, requestHash, text)) {
      throw conflict('this Idempotency-Key was already used with a different request');
    }
    if (existing.state === 'pending') {
      throw conflict('a request with this Idempotency-Key is still in progress; retry shortly');
    }
    reply.header('idempotent-replayed', 'true');
    for (const [name, value] of Object.entries(existing.response_headers ?? {})) reply.header(name, value);
    return reply.code(existing.status_code ?? 200).send(existing.response_body);
  };

  const record = async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const key = request.idempotencyKey;
    if (!key) return payload;
    request.idempotencyKey = null;
    if (reply.statusCode >= 500) {
      await repository.release(key);
      return payload;
    }
    const headers: Record<string, string> = {};
    for (const name of REPLAYED_HEADERS) {
      const value = reply.getHeader(name);
      if (typeof value === 'string') headers[name] = value;
    }
    const body = typeof payload === 'string' && payload.length ? JSON.parse(payload) : null;
    await repository.complete(
      key,
      reply.statusCode,
      headers,
      storedBody(body, request.routeOptions.config.secretResponseFields),
    );
    return payload;
  };

  // Callback-style wrappers: most writes (every usage event) carry no key, and an async hook
  // would cost each of them a promise and a microtask turn for nothing. A claim that answered
  // from the record (a replay, or a refusal sent as the reply) ends the request without done().
  const claimHook: preHandlerHookHandler = (request, reply, done) => {
    if (request.headers['idempotency-key'] === undefined) return done();
    claim(request, reply).then(() => {
      if (!reply.sent) done();
    }, done);
  };
  const recordHook: onSendHookHandler = (request, reply, payload, done) => {
    if (!request.idempotencyKey) return done(null, payload);
    record(request, reply, payload).then((sent) => done(null, sent), done);
  };

  // Only writes take a key, so only their routes carry the hooks: reads (the quota check above
  // all) skip two hooks per request. onRoute sees every route registered after this plugin.
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (!methods.some((method) => WRITE_METHODS.has(method))) return;
    route.preHandler = [...toArray(route.preHandler), claimHook];
    route.onSend = [recordHook, ...toArray(route.onSend)];
  });
}

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const toArray = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

export default fp(idempotencyPlugin, { name: 'idempotency', dependencies: ['auth'] });
