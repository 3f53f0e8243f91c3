import { Ajv, type Options } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/**
 * Two ajv instances. Bodies are validated strictly: no type coercion, and an
 * unknown field is an error (Fastify's default would silently strip it).
 * Query strings and params arrive as text, so those coerce ("50" → 50).
 */
function makeAjv(options: Options) {
  const ajv = new Ajv({ allErrors: false, useDefaults: true, discriminator: true, strict: false, ...options });
  addFormats.default(ajv, ['uuid', 'date-time', 'date', 'hostname', 'uri']);
  return ajv;
}

function validationPlugin(app: FastifyInstance) {
  const bodies = makeAjv({ coerceTypes: false, removeAdditional: false });
  const text = makeAjv({ coerceTypes: 'array', removeAdditional: false });
  app.setValidatorCompiler(({ schema, httpPart }) =>
    httpPart === 'body' ? bodies.compile(schema) : text.compile(schema),
  );
}

export default fp(validationPlugin, { name: 'validation' });
