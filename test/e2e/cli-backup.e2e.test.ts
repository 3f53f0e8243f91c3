import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import {
  type MotoServer,
  type ServiceProcess,
  startMoto,
  startService,
  TEST_ADMIN_TOKEN,
  testEnv,
  uniqueName,
} from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../services/api/test/helpers.js';

/**
 * The CLI's storage and backup commands against the real routes: the API on a
 * real port, the provisioner and storage-verifier as processes, the tenant's
 * storage on moto_server (S3 with SigV4 checks).
 */
const cliSource = resolve(import.meta.dirname, '../../services/cli/src/cli.ts');
const BUCKET = 'deeplens-cli';

let api: TestApi;
let apiUrl: string;
let moto: MotoServer;
const services: ServiceProcess[] = [];
let configFile: string;

function deeplens(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--conditions=@deeplens/source', '--import', 'tsx', cliSource, ...args], {
      env: {
        PATH: process.env.PATH ?? '',
        DEEPLENS_API_URL: apiUrl,
        DEEPLENS_TOKEN: TEST_ADMIN_TOKEN,
        DEEPLENS_CLI_POLL_MS: '100',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.once('error', fail);
    child.once('exit', (code) => done({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  const env = testEnv();
  let provisioner: ServiceProcess;
  let verifier: ServiceProcess;
  [api, provisioner, verifier, moto] = await Promise.all([
    startTestApi(env),
    startService('provisioner', env),
    startService('storage-verifier', env),
    startMoto(),
  ]);
  services.push(provisioner, verifier);
  await api.app.listen({ host: '127.0.0.1', port: 0 });
  apiUrl = `http://127.0.0.1:${(api.app.server.address() as AddressInfo).port}`;
  const user = await moto.createUser('deeplens-cli');
  const s3 = new S3Client({
    region: 'us-east-1',
    endpoint: moto.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: user.accessKeyId, secretAccessKey: user.secretAccessKey },
  });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  s3.destroy();
  configFile = join(tmpdir(), `${uniqueName('deeplens-cli-storage')}.json`);
  writeFileSync(
    configFile,
    JSON.stringify({
      access_key: user.accessKeyId,
      secret_key: user.secretAccessKey,
      region: 'us-east-1',
      bucket: BUCKET,
      endpoint: moto.endpoint,
      force_path_style: true,
    }),
  );
});
afterAll(async () => {
  await Promise.all([api?.close(), moto?.stop(), ...services.map((service) => service.stop())]);
  if (configFile) rmSync(configFile, { force: true });
});

describe('deeplens storage, backup and restore', () => {
  it('creates a tenant on S3 from @file, tests and shows its storage, backs it up, lists and restores the backup', async () => {
    const name = uniqueName('clibk');
    const created = await deeplens([
      'tenant',
      'create',
      name,
      '--storage-provider',
      'aws_s3',
      '--storage-config',
      `@${configFile}`,
      '--json',
    ]);
    expect(created.code, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ status: 'active', storage: { provider: 'aws_s3' } });

    const tested = await deeplens(['storage', 'test', name, '--json']);
    expect(tested.code, tested.stderr).toBe(0);
    const storage = JSON.parse(tested.stdout);
    expect(storage).toMatchObject({ provider: 'aws_s3', status: 'verified' });
    expect(storage.config.secret_key).toBe('********');
    const shown = await deeplens(['storage', 'show', name]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/status:\s+verified/);
    expect(shown.stdout).toMatch(/config\.secret_key:\s+\*{8}/);

    const backup = await deeplens(['backup', name, '--json']);
    expect(backup.code, backup.stderr).toBe(0);
    expect(backup.stderr).toContain(`backing up ${name}:`);
    expect(JSON.parse(backup.stdout)).toMatchObject({ state: 'completed', type: 'tenant.backup' });

    const listed = await deeplens(['backup', name, '--list', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const items = JSON.parse(listed.stdout).items as Array<{ id: string; status: string; sha256: string }>;
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ status: 'completed', sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const table = await deeplens(['backup', name, '--list']);
    expect(table.stdout).toMatch(/^ID\s+STATUS\s+SIZEBYTES\s+SHA256/);

    const restored = await deeplens(['restore', name, '--backup', items[0]!.id, '--json', '--timeout', '120']);
    expect(restored.code, restored.stderr).toBe(0);
    expect(JSON.parse(restored.stdout)).toMatchObject({ state: 'completed', type: 'tenant.restore' });

    const unknown = await deeplens(['restore', name, '--backup', '00000000-0000-4000-8000-000000000000']);
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toMatch(/^deeplens: not_found: /);
  });
});
