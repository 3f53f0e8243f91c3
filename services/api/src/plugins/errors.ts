import { AppError, httpStatusByCode, type ErrorBody } from '@deeplens/shared';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';

/**
 * Every error leaves in the contract's shape, with a code a client can act on.
 * Fastify's own errors (body too large, bad JSON, wrong media type, schema
 * validation) are translated; anything unexpected is logged in full and
 * answered as a plain 500 without its internals.
 */
const fastifyCodes: Record<string, { code: keyof typeof httpStatusByCode; message?: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'payload_too_large', message: 'the request body is larger than 1 MiB' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'unsupported_media_type', message: 'send the body as application/json' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    code: 'validation_failed',
    message: 'the content-length does not match the body',
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'validation_failed', message: 'the JSON body is empty' },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'validation_failed', message: 'the body is not valid JSON' },
  FST_ERR_CTP_INVALID_TYPE: { code: 'validation_failed' },
  FST_ERR_VALIDATION: { code: 'validation_failed' },
  FST_ERR_BAD_URL: { code: 'validation_failed', message: 'the URL is malformed' },
  FST_ERR_ASYNC_CONSTRAINT: { code: 'validation_failed' },
};

function describeValidation(error: FastifyError): { message: string; details: unknown[] } {
  const context = error.validationContext ?? 'body';
  const details = (error.validation ?? []).map((issue) => {
    const missing = (issue.params as { missingProperty?: string }).missingProperty;
    const extra = (issue.params as { additionalProperty?: string }).additionalProperty;
    const path = `${context}${issue.instancePath.replace(/\//g, '.')}${missing ? `.${missing}` : ''}${extra ? `.${extra}` : ''}`;
    const message = extra ? 'is not a known field' : missing ? 'is required' : (issue.message ?? 'is invalid');
    return { field: path, message };
  });
  const first = details[0];
  return { message: first ? `${first.field} ${first.message}` : error.message, details };
}

/**
 * PostgreSQL or Redis not answering: a 503 the client may retry, never a 500.
 * ioredis fails fast (no offline queue) and slonik names its connection errors.
 */
function isDependencyUnavailable(error: unknown): boolean {
  const name = (error as Error)?.name ?? '';
  const message = (error as Error)?.message ?? '';
  const code = (error as { code?: string })?.code ?? '';
  return (
    [
      'ConnectionError',
      'BackendTerminatedError',
      'BackendTerminatedUnexpectedlyError',
      'MaxRetriesPerRequestError',
    ].includes(name) ||
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P03', '08006', '08001', '08003'].includes(code) ||
    /enableOfflineQueue|Connection is closed|Command timed out|Stream isn't writeable|connect ECONNREFUSED|Connection terminated/i.test(
      message,
    )
  );
}

/**
 * PostgreSQL refused a value the client sent: SQLSTATE class 22, "data exception"
 * (a NUL byte in a string, text that is not valid UTF-8, a number or date out of
 * range). Input like that is the client's to fix: 400, not a 500 and a page to an operator.
 */
function isInvalidInputValue(error: unknown): boolean {
  for (
    let current = error as { code?: unknown; cause?: unknown } | undefined, depth = 0;
    current && depth < 4;
    depth++
  ) {
    if (typeof current.code === 'string' && /^22[0-9A-Z]{3}$/.test(current.code)) return true;
    current = current.cause as typeof current;
  }
  return false;
}

/**
 * Errors the router raises before any route or hook runs (a malformed URL, a path
 * parameter longer than `maxParamLength`): Fastify answers them itself in its own
 * shape unless given this as its `frameworkErrors` option.
 */
export function frameworkErrors(error: FastifyError, _request: FastifyRequest, reply: FastifyReply) {
  const message =
    error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? 'a path segment is too long to name anything'
      : error.code === 'FST_ERR_BAD_URL'
        ? 'the URL is malformed'
        : 'the request could not be routed';
  return reply.code(400).send({ error: { code: 'validation_failed', message } });
}

function errorPlugin(app: FastifyInstance) {
  app.setErrorHandler((error: FastifyError | AppError, request, reply) => {
    let status: number;
    let body: ErrorBody;
    if (error instanceof AppError) {
      status = error.httpStatus;
      body = error.toBody();
    } else if (error.code && fastifyCodes[error.code]) {
      const known = fastifyCodes[error.code]!;
      status = httpStatusByCode[known.code];
      if (error.validation) {
        const { message, details } = describeValidation(error);
        body = { code: known.code, message, details };
      } else {
        body = { code: known.code, message: known.message ?? error.message };
      }
    } else if (isInvalidInputValue(error)) {
      status = 400;
      body = {
        code: 'validation_failed',
        message:
          'a value in the request cannot be stored or compared (for example a NUL byte or a number out of range)',
      };
    } else if (isDependencyUnavailable(error)) {
      status = 503;
      body = { code: 'unavailable', message: 'a backing service is unavailable; try again shortly' };
      request.log.warn({ err: error }, 'dependency unavailable');
    } else if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
      status = error.statusCode;
      body = { code: status === 404 ? 'not_found' : 'validation_failed', message: error.message };
    } else {
      status = 500;
      body = { code: 'internal_error', message: 'an unexpected error occurred; it has been logged' };
    }
    if (status >= 500 && status !== 503) request.log.error({ err: error }, 'request failed');
    else request.log.info({ code: body.code, status }, body.message);
    if (status === 503) reply.header('retry-after', '1');
    return reply.code(status).send({ error: body });
  });

  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .send({ error: { code: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` } }),
  );
}

export default fp(errorPlugin, { name: 'errors' });
