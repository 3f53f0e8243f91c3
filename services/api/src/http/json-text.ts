import type { JsonText } from '@deeplens/shared';
import type { FastifyReply } from 'fastify';

/**
 * Sends JSON text composed elsewhere (PostgreSQL) as it is. Fastify serialises
 * only payloads that are not strings, so the route's response schema still
 * documents the answer without serialising it a second time.
 */
export function sendJsonText<T>(reply: FastifyReply, text: JsonText<T>): FastifyReply {
  return reply.type('application/json; charset=utf-8').send(text);
}
