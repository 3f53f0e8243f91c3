import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { createLogger, platformNames, withClient, withDatabase } from '@deeplens/shared';
import { TEST_ADMIN_TOKEN, testEnv, uniqueName } from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { loadApiEnv } from '../src/config.js';
import { openApiDeps } from '../src/deps.js';

/** pino's redaction, proven on what it actually writes: a captured destination. */

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return {
    lines,
    text: () => lines.join(''),
    logger: createLogger({ name: 'redaction-test', level: 'trace', destination }),
  };
}

const SECRET = 'REDACT-ME-7f3a9c2e1b';

describe('log redaction', () => {
  it('masks storage secrets, configs, keys and slonik bind values wherever the code logs them', () => {
    const { logger, text } = capture();
    const config = { access_key: SECRET, secret_key: SECRET, region: 'us-west-2', bucket: 'b' };
    logger.info({ config }, 'a config');
    logger.info({ storage: { provider: 'aws_s3', config } }, 'a storage input');
    logger.info({ body: { storage: { provider: 'aws_s3', config } } }, 'a request body');
    logger.info({ password: SECRET, connection_string: SECRET, service_account_key: SECRET }, 'fields by name');
    logger.info({ secrets: { password: SECRET } }, 'decrypted secrets');
    logger.info({ encryptionKey: SECRET, req: { headers: { authorization: `Bearer ${SECRET}` } } }, 'keys and tokens');
    // A slonik DataIntegrityError/SchemaValidationError carries the bind values (keys!) and the row.
    const slonikLike = Object.assign(new Error('Query returned rows that do not conform with the schema.'), {
      name: 'SchemaValidationError',
      values: [['k1'], [SECRET]],
      row: { secrets: `{"secret_key":"${SECRET}"}` },
    });
    logger.error({ err: slonikLike }, 'query failed');
    logger.error({ job: { err: slonikLike } }, 'nested error');

    const written = text();
    expect(written.split('\n').filter(Boolean)).toHaveLength(8);
    expect(written).toContain('********');
    expect(written).toContain('"provider":"aws_s3"'); // what is not a config or a secret stays readable
    expect(written).toContain('SchemaValidationError');
    expect(written).not.toContain(SECRET);
  });
});

describe('API logs during storage requests', () => {
  const env = testEnv();
  const captured = capture();
  let close: () => Promise<void>;
  let app: Awaited<ReturnType<typeof buildApp>>;

  beforeAll(async () => {
    const opened = await openApiDeps(loadApiEnv(env), captured.logger);
    app = await buildApp(opened.deps);
    await app.ready();
    close = async () => {
      await app.close();
      await opened.close();
    };
  });

  afterAll(async () => {
    await close?.();
  });

  it('write no secret at trace level, for accepted and for rejected bodies', async () => {
    const tenantId = randomUUID();
    const url = withDatabase(env.DATABASE_URL!, platformNames(env.DEEPLENS_DB_PREFIX!).platformDatabase);
    await withClient(url, (client) =>
      client.query(`INSERT INTO tenants (id, name, plan, status) VALUES ($1, $2, 'free', 'active')`, [
        tenantId,
        uniqueName('logs'),
      ]),
    );
    const send = (payload: unknown) =>
      app.inject({
        method: 'PUT',
        url: `/v1/tenants/${tenantId}/storage`,
        headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' },
        payload: JSON.stringify(payload),
      });
    const accepted = await send({
      provider: 'smb',
      config: { share_path: '//srv/share', username: 'u', password: SECRET },
    });
    expect(accepted.statusCode).toBe(202);
    const rejected = await send({
      provider: 'smb',
      config: { share_path: '//srv/share', username: 'u', password: SECRET, port: 'x' },
    });
    expect(rejected.statusCode).toBe(400);
    expect(rejected.body).not.toContain(SECRET);
    const wrongType = await send({
      provider: 'aws_s3',
      config: { access_key: SECRET, secret_key: 7, region: 'r1', bucket: 'bucket' },
    });
    expect(wrongType.statusCode).toBe(400);
    expect(wrongType.body).not.toContain(SECRET);
    const got = await app.inject({
      method: 'GET',
      url: `/v1/tenants/${tenantId}/storage`,
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
    });
    expect(got.body).not.toContain(SECRET);

    expect(captured.lines.length).toBeGreaterThan(0); // the API did log (the 400s at least)
    expect(captured.text()).not.toContain(SECRET);
  });
});
