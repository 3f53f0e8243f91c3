import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { freePort, httpApiClient, startService, TEST_ADMIN_TOKEN, testEnv } from '@deeplens/shared/testing';
import { describe, expect, it } from 'vitest';

/**
 * Without NODE_ENV a process is in production: it refuses to start without
 * its admin tokens and encryption key (exit 78, naming them), and once
 * started never accepts the public development token. Only NODE_ENV=development
 * (which `npm start` sets, loudly) turns the public defaults on.
 */
const run = promisify(execFile);
const repositoryRoot = resolve(import.meta.dirname, '../../..');
const DEVELOPMENT_TOKEN = 'deeplens-dev-admin-token';

/** testEnv without NODE_ENV and without the named variables. */
function withoutDefaults(...names: string[]): Record<string, string> {
  const env = testEnv();
  for (const name of ['NODE_ENV', ...names]) delete env[name];
  return env;
}

async function exitOf(service: string, env: Record<string, string>) {
  const failed = await run(
    process.execPath,
    ['--conditions=@deeplens/source', '--import', 'tsx', `services/${service}/src/main.ts`],
    { cwd: repositoryRoot, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 45_000 },
  ).then(
    (done) => ({ code: 0, stderr: done.stderr }),
    (error: { code: number; stderr: string }) => error,
  );
  return { code: failed.code, stderr: failed.stderr };
}

describe('production unless NODE_ENV=development', () => {
  it('refuses to start without NODE_ENV, admin tokens and encryption key: exit 78 naming the variables', async () => {
    const [api, provisioner] = await Promise.all([
      exitOf('api', withoutDefaults('DEEPLENS_ADMIN_TOKENS', 'DEEPLENS_ENCRYPTION_KEY')),
      exitOf('provisioner', withoutDefaults('DEEPLENS_ENCRYPTION_KEY')),
    ]);
    expect(api.code).toBe(78);
    expect(api.stderr).toMatch(/^api: invalid configuration:/);
    expect(api.stderr).toContain(
      'DEEPLENS_ADMIN_TOKENS: at least one admin token is required unless NODE_ENV=development',
    );
    expect(api.stderr).toContain('DEEPLENS_ENCRYPTION_KEY: required unless NODE_ENV=development');
    expect(provisioner.code).toBe(78);
    expect(provisioner.stderr).toContain('DEEPLENS_ENCRYPTION_KEY: required unless NODE_ENV=development');
  });

  it('a process started without NODE_ENV refuses the public development token', async () => {
    const port = await freePort();
    const api = await startService('api', { ...withoutDefaults(), HOST: '127.0.0.1', PORT: String(port) });
    try {
      const base = `http://127.0.0.1:${port}`;
      const development = await httpApiClient(base, DEVELOPMENT_TOKEN)('GET', '/v1/tenants?limit=1');
      expect(development.status).toBe(401);
      expect(development.json().error.code).toBe('unauthorized');
      expect((await httpApiClient(base, TEST_ADMIN_TOKEN)('GET', '/v1/tenants?limit=1')).status).toBe(200);
      expect(api.output.join('\n')).not.toMatch(/development/i);
    } finally {
      await api.stop();
    }
  });
});
