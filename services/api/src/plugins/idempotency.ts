import { createHash } from 'node:crypto';
import { AppError, conflict, validationFailed } from '@deeplens/shared';
import type { FastifyInstance, FastifyReply, FastifyRequest, onSendHookHandler, preHandlerHookHandler } from 'fastify';
import fp from 'fastify-plugin';
import type { IdempotencyRepository } from '../repositories/idempotency.repository.js';

/**
 * `Idempotency-Key` on writes: the same key with the same request answers the
 * first response again (same ids, same status); the same key with a different
 * request is a 409. Keys are scoped to the token that used them.
 */
declare module 'fastify' {
  interface FastifyRequest {
    idempotencyKey: string | null;
  }
}

const KEY_PATTERN = /^[\x21-\x7e]{1,200}$/;
const REPLAYED_HEADERS = ['location'];

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function idempotencyPlugin(app: FastifyInstance, options: { repository: IdempotencyRepository }) {
  const { repository } = options;
  app.decorateRequest('idempotencyKey', null);

  const claim = async (request: FastifyRequest, reply: FastifyReply) => {
    const header = request.headers['idempotency-key'];
    if (header === undefined || !WRITE_METHODS.has(request.method)) return;
    if (typeof header !== 'string' || !KEY_PATTERN.test(header)) {
      throw validationFailed('Idempotency-Key must be 1-200 visible ASCII characters');
    }
    const key = `${request.principal.id}:${header}`;
    const requestHash = createHash('sha256')
      .update(`${request.method} ${request.url}\n${canonical(request.body ?? null)}`)
      .digest('hex');
    const outcome = await repository.claim(key, request.principal.id, requestHash);
    if (outcome.claimed) {
      request.idempotencyKey = key;
      return;
    }
    const existing = outcome.existing;
    if (!existing) throw new AppError('conflict', 'this Idempotency-Key is being reused; try again');
    if (existing.request_hash !== requestHash) {
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
    await repository.complete(key, reply.statusCode, headers, body);
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
const toArray = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

export default fp(idempotencyPlugin, { name: 'idempotency', dependencies: ['auth'] });
