import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { startService, TEST_ADMIN_TOKEN, testEnv, uniqueName, type ServiceProcess } from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../services/api/test/helpers.js';

/**
 * The `deeplens` CLI as operators run it: a real process talking over HTTP to
 * the API on a real port, with a provisioner process doing the work.
 */
const cliSource = resolve(import.meta.dirname, '../../services/cli/src/cli.ts');

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function deeplens(args: string[], options: { env?: Record<string, string>; input?: string } = {}): Promise<CliRun> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--conditions=@deeplens/source', '--import', 'tsx', cliSource, ...args], {
      env: {
        PATH: process.env.PATH ?? '',
        DEEPLENS_API_URL: apiUrl,
        DEEPLENS_TOKEN: TEST_ADMIN_TOKEN,
        DEEPLENS_CLI_POLL_MS: '100',
        ...options.env,
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.once('error', fail);
    child.once('exit', (code) => done({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

let api: TestApi;
let apiUrl: string;
let provisioner: ServiceProcess;

beforeAll(async () => {
  const env = testEnv();
  api = await startTestApi(env);
  await api.app.listen({ host: '127.0.0.1', port: 0 });
  apiUrl = `http://127.0.0.1:${(api.app.server.address() as AddressInfo).port}`;
  provisioner = await startService('provisioner', env);
});
afterAll(async () => {
  await provisioner?.stop();
  await api?.close();
});

describe('deeplens tenant', () => {
  it('creates (waiting with a progress line), gets, lists across pages and removes after the typed name', async () => {
    const name = uniqueName('cli');
    const created = await deeplens([
      'tenant',
      'create',
      name,
      '--plan',
      'premium',
      '--display-name',
      'CLI Corp',
      '--json',
    ]);
    expect(created.stderr).toContain(`provisioning ${name}:`);
    expect(created.stderr).toMatch(/completed/);
    expect(created.code, created.stderr).toBe(0);
    const tenant = JSON.parse(created.stdout);
    expect(tenant).toMatchObject({ name, plan: 'premium', displayName: 'CLI Corp', status: 'active' });

    const byName = await deeplens(['tenant', 'get', name, '--json']);
    expect(byName.code).toBe(0);
    expect(JSON.parse(byName.stdout).id).toBe(tenant.id);
    const table = await deeplens(['tenant', 'get', tenant.id]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`name:\\s+${name}`));
    expect(table.stdout).toMatch(/status:\s+active/);

    // A second tenant, not waited for, so the list has two pages of one.
    const other = uniqueName('cli');
    const queued = await deeplens(['tenant', 'create', other, '--plan', 'premium', '--no-wait', '--json']);
    expect(queued.code, queued.stderr).toBe(0);
    expect(JSON.parse(queued.stdout)).toMatchObject({ status: 'provisioning', jobId: expect.any(String) });
    const listed = await deeplens(['tenant', 'list', '--plan', 'premium', '--page-size', '1', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const names = (JSON.parse(listed.stdout) as Array<{ name: string }>).map((row) => row.name);
    expect(names).toEqual(expect.arrayContaining([name, other]));
    const limited = await deeplens([
      'tenant',
      'list',
      '--plan',
      'premium',
      '--page-size',
      '1',
      '--limit',
      '1',
      '--json',
    ]);
    expect(JSON.parse(limited.stdout)).toHaveLength(1);
    const people = await deeplens(['tenant', 'list', '--plan', 'premium']);
    expect(people.stdout.split('\n')[0]).toMatch(/^NAME\s+PLAN\s+STATUS/);

    // The operator must type the name: a wrong one removes nothing, no answer is a usage error.
    const wrong = await deeplens(['tenant', 'remove', name], { input: 'not-the-name\n' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('Type the tenant');
    expect(wrong.stderr).toMatch(/nothing was removed/);
    const silent = await deeplens(['tenant', 'remove', name]);
    expect(silent.code).toBe(2);
    expect(silent.stderr).toMatch(/--yes/);
    expect((await api.call('GET', `/v1/tenants/${tenant.id}`)).json().status).toBe('active');

    const removed = await deeplens(['tenant', 'remove', name], { input: `${name}\n` });
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toContain(`tenant ${name} removed`);
    expect((await api.call('GET', `/v1/tenants/${tenant.id}`)).json().status).toBe('deleted');

    const scripted = await deeplens(['tenant', 'remove', other, '--yes', '--json']);
    expect(scripted.code, scripted.stderr).toBe(0);
    expect(JSON.parse(scripted.stdout)).toMatchObject({ state: 'completed', type: 'tenant.deprovision' });
  });

  it('status, usage and storage answer as tables and as JSON', async () => {
    const status = await deeplens(['status', '--json']);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toHaveProperty('queues.provisioning');
    const people = await deeplens(['status']);
    expect(people.stdout).toMatch(/tenants by plan:/);
    expect(people.stdout).toMatch(/^QUEUE\s+WAITING/m);

    const name = uniqueName('cli');
    await deeplens(['tenant', 'create', name, '--no-wait']);
    const usage = await deeplens(['usage', name, '--month', '2026-01', '--json']);
    expect(usage.code, usage.stderr).toBe(0);
    expect(JSON.parse(usage.stdout)).toMatchObject({ month: '2026-01', apiCalls: { used: 0 } });
    expect((await deeplens(['usage', name, '--month', 'January'])).code).toBe(2);
    // No storage was given and this run has no platform default: "not found".
    expect((await deeplens(['storage', 'show', name])).code).toBe(4);
  });
});

describe('deeplens exit codes and errors', () => {
  it('4 for an unknown tenant, 5 for a bad token, 2 for a bad command line, each error in one line', async () => {
    const missing = await deeplens(['tenant', 'get', 'no-such-tenant-here']);
    expect(missing.code).toBe(4);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toMatch(/^deeplens: not_found: /);

    const denied = await deeplens(['status'], { env: { DEEPLENS_TOKEN: 'not-a-token-0123456789abcdef' } });
    expect(denied.code).toBe(5);
    expect(denied.stderr).toMatch(/^deeplens: unauthorized: /);

    // Not on this machine and no token: the development token is not assumed.
    const remote = await deeplens(['status'], {
      env: { DEEPLENS_TOKEN: '', DEEPLENS_API_URL: 'http://deeplens.invalid:8080' },
    });
    expect(remote.code).toBe(5);
    expect(remote.stderr).toMatch(/DEEPLENS_TOKEN is not set/);
    // On this machine the public development token is tried; an API outside development refuses it, and the CLI says why.
    const local = await deeplens(['status'], { env: { DEEPLENS_TOKEN: '' } });
    expect(local.code).toBe(5);
    expect(local.stderr).toMatch(
      /^deeplens: unauthorized: .*the public development token was tried, and only an API started in development mode accepts it/,
    );

    expect((await deeplens(['tenant', 'get'])).code).toBe(2);
    expect((await deeplens(['tenant', 'create', 'x', '--storage-provider', 'aws_s3'])).code).toBe(2);
    const invalid = await deeplens(['tenant', 'create', 'Not_A_Valid_Name', '--no-wait']);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toMatch(/validation_failed/);
  });

  it('3 when the API cannot be reached; 4 with a clear line when the API has no backup routes', async () => {
    const closed = createServer();
    await new Promise<void>((done) => closed.listen(0, '127.0.0.1', done));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((done) => closed.close(done));
    const unreachable = await deeplens(['status'], { env: { DEEPLENS_API_URL: `http://127.0.0.1:${port}` } });
    expect(unreachable.code).toBe(3);
    expect(unreachable.stderr).toMatch(/cannot reach the DeepLens API at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);

    // An API that predates the backup routes answers 404 "no route": the CLI says what is missing.
    const old: Server = createServer((request, response) => {
      response.writeHead(404, { 'content-type': 'application/json' });
      response.end(
        JSON.stringify({ error: { code: 'not_found', message: `no route ${request.method} ${request.url}` } }),
      );
    });
    await new Promise<void>((done) => old.listen(0, '127.0.0.1', done));
    try {
      const url = `http://127.0.0.1:${(old.address() as AddressInfo).port}`;
      const backup = await deeplens(['backup', 'acme'], { env: { DEEPLENS_API_URL: url } });
      expect(backup.code).toBe(4);
      expect(backup.stderr).toMatch(/this API has no POST \/v1\/tenants\/:id\/backups/);
      const restore = await deeplens(['restore', 'acme', '--backup', '00000000-0000-4000-8000-000000000000'], {
        env: { DEEPLENS_API_URL: url },
      });
      expect(restore.code).toBe(4);
      expect(restore.stderr).toMatch(/this API has no POST \/v1\/tenants\/:id\/restore/);
    } finally {
      await new Promise((done) => old.close(done));
    }
  });
});
