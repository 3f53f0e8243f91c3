import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger, migratePlatform, platformNames, withClient, withDatabase } from '@deeplens/shared';
import {
  dumpPlatformDatabase,
  dumpRedis,
  freePort,
  httpApiClient,
  type ServiceProcess,
  startService,
  TEST_ADMIN_TOKEN,
  TEST_SERVICE_TOKEN,
  testEnv,
  uniqueName,
  waitFor,
  waitForJob,
} from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Secrets never leave: a realistic flow with the API, provisioner and
 * verifier as processes at trace level (tenants created with each provider's
 * secrets, storage replaced, verified, keys rotated with the CLI, services
 * restarted on the new keyring, tenants deleted, a webhook created and its
 * Idempotency-Key replayed), then every log line, every response, every job
 * record, every text, jsonb and bytea column of the platform database and every
 * Redis key under this run's prefix is searched for every secret used. None
 * may appear. On the way, a sealed config copied onto another tenant's row
 * must not open there.
 */
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const marker = (label: string) => `${label}${randomBytes(8).toString('hex')}`;
const keyOne = `sec-k1:${marker('ENCKEYONE')}`;
const keyTwo = `sec-k2:${marker('ENCKEYTWO')}`;
const secrets: string[] = [keyOne.split(':')[1]!, keyTwo.split(':')[1]!, TEST_ADMIN_TOKEN, TEST_SERVICE_TOKEN];
const secret = (label: string) => {
  const value = marker(label);
  secrets.push(value);
  return value;
};

let env: Record<string, string>;
let base: string;
const services: ServiceProcess[] = [];
const outputs: string[][] = [];
const responses: string[] = [];

async function start(keyring: string) {
  for (const name of ['api', 'provisioner', 'storage-verifier'] as const) {
    const service = await startService(name, { ...env, DEEPLENS_ENCRYPTION_KEY: keyring });
    services.push(service);
    outputs.push(service.output);
  }
}
const stopAll = async () => {
  await Promise.all(services.splice(0).map((service) => service.stop()));
};

/**
 * Every text, json(b) and bytea value of every platform table, column by column:
 * bytea as `escape` text, so a plaintext stored as bytes shows as itself.
 */
async function platformColumns(): Promise<string> {
  return withClient(
    withDatabase(env.DATABASE_URL!, platformNames(env.DEEPLENS_DB_PREFIX!).platformDatabase),
    async (client) => {
      const { rows: columns } = await client.query<{ table_name: string; column_name: string; data_type: string }>(
        `SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c
         JOIN information_schema.tables t USING (table_schema, table_name)
        WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
          AND c.data_type IN ('text', 'character varying', 'json', 'jsonb', 'bytea', 'ARRAY')`,
      );
      const parts: string[] = [];
      for (const { table_name, column_name, data_type } of columns) {
        const column = client.escapeIdentifier(column_name);
        const value = data_type === 'bytea' ? `encode(${column}, 'escape')` : `${column}::text`;
        const { rows } = await client.query<{ v: string | null }>(
          `SELECT ${value} AS v FROM ${client.escapeIdentifier(table_name)}`,
        );
        parts.push(`-- ${table_name}.${column_name}`, ...rows.map((row) => row.v ?? ''));
      }
      return parts.join('\n');
    },
  );
}

/** A TCP listener that counts connections (and closes them): the endpoint a stolen config would be sent to. */
async function countingListener(): Promise<{
  server: Server;
  port: number;
  connections: () => number;
  reset: () => void;
}> {
  let count = 0;
  const server = createServer((socket) => {
    count += 1;
    socket.destroy();
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    server,
    port: (server.address() as { port: number }).port,
    connections: () => count,
    reset: () => (count = 0),
  };
}

/** Every answer, headers and body, is kept for the scan at the end. */
async function call(method: string, path: string, body?: unknown) {
  const response = await httpApiClient(base)(method, path, body);
  responses.push(`${method} ${path} → ${response.status} ${JSON.stringify([...response.headers])} ${response.text}`);
  return response;
}
const finished = (jobId: string) => waitForJob({ call }, jobId, { timeoutMs: 90_000 });

beforeAll(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const runEnv = testEnv();
  // A platform database of its own (a nested prefix of this run's, dropped with it): key rotation
  // re-encrypts every config of its database and must not touch those other test files are using.
  env = testEnv({
    DEEPLENS_DB_PREFIX: `${runEnv.DEEPLENS_DB_PREFIX}sx_`,
    HOST: '127.0.0.1',
    PORT: String(port),
    LOG_LEVEL: 'trace',
    DEEPLENS_STORAGE_VERIFY_ATTEMPTS: '2',
    DEEPLENS_STORAGE_VERIFY_BACKOFF_MS: '100',
  });
  await migratePlatform(
    {
      DATABASE_URL: env.DATABASE_URL!,
      DEEPLENS_DB_PREFIX: env.DEEPLENS_DB_PREFIX!,
      DEEPLENS_PLATFORM_SERVICE_PASSWORD: undefined,
      DEEPLENS_TENANT_SERVICE_PASSWORD: undefined,
    },
    createLogger({ name: 'test-migrate', level: 'warn' }),
  );
  await start(keyOne);
});
afterAll(async () => {
  await stopAll();
});

/** Storage of every provider that has secrets, pointed at a closed port so verification fails fast (its messages are scanned too). */
async function storageConfigs() {
  const closed = `http://127.0.0.1:${await freePort()}`;
  const privateKey = `-----BEGIN PRIVATE KEY-----\n${secret('GCSPRIVATEKEY')}\n-----END PRIVATE KEY-----\n`;
  return [
    {
      provider: 'aws_s3',
      config: {
        access_key: secret('AKIAS3'),
        secret_key: secret('S3SECRET'),
        region: 'us-east-1',
        bucket: 'deeplens-secrets',
        endpoint: closed,
        force_path_style: true,
      },
    },
    {
      provider: 'minio',
      config: {
        endpoint: closed,
        access_key: secret('MINIOACCESS'),
        secret_key: secret('MINIOSECRET'),
        bucket: 'deeplens-secrets',
      },
    },
    {
      provider: 'azure_blob',
      config: {
        connection_string: `DefaultEndpointsProtocol=http;AccountName=deeplens;AccountKey=${Buffer.from(secret('AZUREKEY')).toString('base64')};BlobEndpoint=${closed}/deeplens;`,
        container: 'deeplens-secrets',
      },
    },
    {
      provider: 'gcs',
      config: {
        service_account_key: JSON.stringify({
          type: 'service_account',
          project_id: 'deeplens',
          private_key_id: secret('GCSKEYID'),
          private_key: privateKey,
          client_email: 'probe@deeplens.iam.gserviceaccount.com',
          token_uri: `${closed}/token`,
        }),
        bucket: 'deeplens-secrets',
        project_id: 'deeplens',
        api_endpoint: closed,
      },
    },
    {
      provider: 'smb',
      config: {
        share_path: '//127.0.0.1/deeplens',
        username: 'deeplens',
        password: secret('SMBPASSWORD'),
        port: Number(new URL(closed).port),
      },
    },
  ];
}

describe('no secret anywhere', () => {
  it('leaves no storage secret, key or token in logs, answers, job records, platform tables or Redis', async () => {
    const tenants: Array<{ id: string; name: string }> = [];
    for (const storage of await storageConfigs()) {
      // Azure's key is given base64-encoded: search for the encoded form as well.
      const azure = /AccountKey=([^;]+)/.exec(JSON.stringify(storage))?.[1];
      if (azure) secrets.push(azure);
      const name = uniqueName(`sec-${storage.provider.replace('_', '')}`);
      const created = await call('POST', '/v1/tenants', { name, storage });
      expect(created.status).toBe(202);
      tenants.push({ id: created.json().tenantId, name });
      expect((await finished(created.json().jobId)).state).toBe('completed');
    }
    // The provisioned verification of each, then a replacement config (new secrets) and an on-demand test.
    const replacements = await storageConfigs();
    for (const [index, tenant] of tenants.entries()) {
      await waitFor(
        async () =>
          ['failed', 'verified'].includes((await call('GET', `/v1/tenants/${tenant.id}/storage`)).json().status)
            ? true
            : undefined,
        {
          timeoutMs: 60_000,
          what: `the first verification of ${tenant.name}`,
        },
      );
      const put = await call('PUT', `/v1/tenants/${tenant.id}/storage`, replacements[index]);
      expect(put.status).toBe(202);
      await finished(put.json().jobId);
      const tested = await call('POST', `/v1/tenants/${tenant.id}/storage/test`);
      await finished(tested.json().jobId);
      await call('GET', `/v1/tenants/${tenant.id}`);
      await call('GET', `/v1/tenants/${tenant.id}/storage`);
    }
    await call('GET', '/v1/tenants?limit=100');
    await call('GET', '/v1/status');

    // A webhook: its signing secret is in the first answer only (not kept for the scan, the test asked for it);
    // an Idempotency-Key replay answers the same id with the secret masked.
    const hookKey = marker('hook-key-');
    const hookBody = JSON.stringify({
      url: `http://127.0.0.1:9/${marker('hook')}`,
      eventTypes: ['tenant.provisioned'],
    });
    const createHook = () =>
      fetch(`${base}/v1/webhooks`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${TEST_ADMIN_TOKEN}`,
          'content-type': 'application/json',
          'idempotency-key': hookKey,
        },
        body: hookBody,
      });
    const hook = await createHook();
    expect(hook.status).toBe(201);
    const created = (await hook.json()) as { id: string; secret: string };
    secrets.push(created.secret, created.secret.replace(/^whsec_/, ''));
    const replayed = await createHook();
    const replayText = await replayed.text();
    responses.push(`POST /v1/webhooks (replay) → ${replayed.status} ${replayText}`);
    expect(replayed.headers.get('idempotent-replayed'), replayText).toBe('true');
    expect(JSON.parse(replayText)).toMatchObject({ id: created.id, secret: '********' });

    // A sealed config copied onto another tenant's row (same provider) does not open there: the
    // verification fails in the platform's words and the thief's endpoint never sees a connection.
    const listener = await countingListener();
    try {
      const thiefName = uniqueName('sec-thief');
      const thief = await call('POST', '/v1/tenants', {
        name: thiefName,
        storage: {
          provider: 'aws_s3',
          config: {
            access_key: 'AKIATHIEF',
            secret_key: 'thief-secret-key',
            region: 'us-east-1',
            bucket: 'thief',
            endpoint: `http://127.0.0.1:${listener.port}`,
            force_path_style: true,
          },
        },
      });
      const thiefId = thief.json().tenantId as string;
      await finished(thief.json().jobId);
      await waitFor(
        async () =>
          ['failed', 'verified'].includes((await call('GET', `/v1/tenants/${thiefId}/storage`)).json().status)
            ? true
            : undefined,
        {
          timeoutMs: 60_000,
          what: "the thief tenant's first verification",
        },
      );
      const platformUrl = withDatabase(env.DATABASE_URL!, platformNames(env.DEEPLENS_DB_PREFIX!).platformDatabase);
      await withClient(platformUrl, (client) =>
        client.query(
          'UPDATE tenant_storage_configs t SET sealed = v.sealed FROM tenant_storage_configs v WHERE v.tenant_id = $1 AND t.tenant_id = $2',
          [tenants[0]!.id, thiefId],
        ),
      );
      listener.reset();
      const stolen = await finished((await call('POST', `/v1/tenants/${thiefId}/storage/test`)).json().jobId);
      expect(stolen.state).toBe('failed');
      expect(stolen.error).toMatchObject({
        code: 'internal_error',
        message: expect.stringMatching(/does not open: it was changed, or it belongs to another tenant/),
      });
      expect(listener.connections()).toBe(0);
      expect((await call('GET', `/v1/tenants/${thiefId}/storage`)).json().status).not.toBe('verified');
      tenants.push({ id: thiefId, name: thiefName });
      // Its own config again, so the rotation below has nothing it cannot open.
      const own = {
        access_key: 'AKIATHIEF',
        secret_key: 'thief-secret-key',
        region: 'us-east-1',
        bucket: 'thief',
        endpoint: `http://127.0.0.1:${await freePort()}`,
        force_path_style: true,
      };
      await finished(
        (await call('PUT', `/v1/tenants/${thiefId}/storage`, { provider: 'aws_s3', config: own })).json().jobId,
      );
    } finally {
      listener.server.close();
    }

    // Rotate to a new key with the CLI while the services run, then roll them onto the new keyring.
    const rotation = await new Promise<{ code: number | null; output: string; report: string }>((done) => {
      const child = spawn(
        process.execPath,
        ['--conditions=@deeplens/source', '--import', 'tsx', resolve(root, 'shared/src/cli/rotate-keys.ts')],
        {
          cwd: root,
          env: { PATH: process.env.PATH ?? '', ...env, DEEPLENS_ENCRYPTION_KEY: `${keyTwo},${keyOne}` },
        },
      );
      let output = '';
      let report = '';
      child.stdout.on('data', (chunk) => {
        output += chunk;
        report += chunk;
      });
      child.stderr.on('data', (chunk) => (output += chunk));
      child.on('exit', (code) => done({ code, output, report }));
    });
    outputs.push([rotation.output]);
    expect(rotation.code, rotation.output).toBe(0);
    expect(JSON.parse(rotation.report)).toMatchObject({ currentKeyId: 'sec-k2', failed: [], remaining: 0 });
    await stopAll();
    await start(keyTwo);
    for (const tenant of tenants) {
      const tested = await call('POST', `/v1/tenants/${tenant.id}/storage/test`);
      expect((await finished(tested.json().jobId)).error?.code).not.toBe('internal_error'); // decrypted under the new key
    }

    for (const tenant of tenants) {
      const removed = await call('DELETE', `/v1/tenants/${tenant.id}?confirm=${tenant.name}`);
      expect(removed.status).toBe(202);
      expect((await finished(removed.json().jobId)).state).toBe('completed');
    }
    await stopAll();

    const haystacks = {
      logs: outputs.flat().join('\n'),
      responses: responses.join('\n'),
      platform: await dumpPlatformDatabase(env),
      columns: await platformColumns(),
      redis: await dumpRedis(env),
    } satisfies Record<string, string>;
    // The flow really ran and was logged at trace level: the scan is not over empty text.
    expect(haystacks.logs.split('\n').length).toBeGreaterThan(50);
    expect(haystacks.platform).toMatch(/job_records/);
    // The haystacks hold what the flow made: a search in them finds what is there.
    expect(haystacks.responses).toContain(tenants[0]!.name);
    expect(haystacks.platform).toContain(tenants[0]!.id);
    // Sealed values are there, under the rotated key, and nothing in the legacy form.
    expect(haystacks.columns).toMatch(/v1\.sec-k2\./);
    expect(haystacks.columns).toContain('"secret": "********"'); // the replayable answer, masked
    expect(haystacks.redis).toContain(tenants[0]!.id);
    const found: string[] = [];
    for (const value of secrets) {
      for (const form of new Set([value, JSON.stringify(value).slice(1, -1), encodeURIComponent(value)])) {
        for (const [where, text] of Object.entries(haystacks)) {
          // The responses contain the tokens only because the test sent them: its own request headers are not recorded.
          if (text.includes(form)) found.push(`${value.slice(0, 12)}… in ${where}`);
        }
      }
    }
    expect(found).toEqual([]);
  }, 420_000);
});
