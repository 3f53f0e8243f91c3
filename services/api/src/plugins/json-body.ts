import { validationFailed } from '@deeplens/shared';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/**
 * Bodies are JSON only. JSON bodies nested deeper than any request of the contract (its deepest is
 * four levels) are refused with a 400 before anything walks them. Fastify's
 * parser (JSON.parse, then secure-json-parse's iterative prototype scan)
 * accepts 100,000 nested arrays in a few hundred kilobytes; what comes after
 * it recurses: the idempotency fingerprint, JSON.stringify on the way to
 * PostgreSQL, PostgreSQL's own jsonb input (a stack-depth error). Refusing at
 * the parser covers every route and every one of those at once. The depth is
 * counted on the text in one pass, so the deep value is never even built.
 */
export const MAX_JSON_DEPTH = 64;

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** The deepest nesting of arrays and objects in JSON text (strings skipped), stopping once past `limit`. */
export function jsonDepthExceeds(text: string, limit: number): boolean {
  // Cannot nest deeper than it has characters: small bodies (most of them) skip the scan.
  if (text.length <= limit) return false;
  let depth = 0;
  let inString = false;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (inString) {
      if (code === BACKSLASH) index++;
      else if (code === QUOTE) inString = false;
    } else if (code === QUOTE) inString = true;
    else if (code === OPEN_BRACE || code === OPEN_BRACKET) {
      if (++depth > limit) return true;
    } else if (code === CLOSE_BRACE || code === CLOSE_BRACKET) depth--;
  }
  return false;
}

function jsonBodyPlugin(app: FastifyInstance) {
  // JSON is the only body the API takes: Fastify would also parse text/plain, which the contract
  // answers 415 like any other type (FST_ERR_CTP_INVALID_MEDIA_TYPE in the errors plugin).
  app.removeContentTypeParser('text/plain');
  // Fastify's own parser after the depth check: its prototype-poisoning guard and its error codes stay.
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string; // parseAs: 'string'
    if (jsonDepthExceeds(text, MAX_JSON_DEPTH)) {
      return done(validationFailed(`the JSON body is nested deeper than ${MAX_JSON_DEPTH} levels`), undefined);
    }
    return parse(request, text, done);
  });
}

export default fp(jsonBodyPlugin, { name: 'json-body' });
