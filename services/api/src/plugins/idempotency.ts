import { createHash } from 'node:crypto';
import { AppError, conflict, validationFailed } from '@deeplens/shared';
import type { FastifyInstance } from 'fastify';
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

  app.addHook('preHandler', async (request, reply) => {
    const header = request.headers['idempotency-key'];
    if (header === undefined || !['POST', 'PUT', 'PATCH', 'DELETE'].includes(request.method)) return;
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
  });

  app.addHook('onSend', async (request, reply, payload) => {
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
  });
}

export default fp(idempotencyPlugin, { name: 'idempotency', dependencies: ['auth'] });
