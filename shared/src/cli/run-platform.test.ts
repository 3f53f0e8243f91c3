import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { freePort } from '../testing/index.js';

/**
 * `npm start` is the quick start: without NODE_ENV it runs the platform in
 * development, explicitly and loudly; an explicit NODE_ENV is kept. Each run
 * points at a PostgreSQL port nobody listens on, so it stops right after the
 * start-up decisions this test is about (the migration fails: exit 1).
 */
const run = promisify(execFile);
const repositoryRoot = resolve(import.meta.dirname, '../../..');

async function cli(script: string, env: Record<string, string>) {
  const databaseUrl = `postgres://postgres@127.0.0.1:${await freePort()}/postgres`;
  return run(process.execPath, ['--conditions=@deeplens/source', '--import', 'tsx', `shared/src/cli/${script}`], {
    cwd: repositoryRoot,
    env: { PATH: process.env.PATH ?? '', DATABASE_URL: databaseUrl, ...env },
    timeout: 45_000,
  }).then(
    ({ stdout, stderr }) => ({ code: 0, output: stdout + stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({
      code: error.code,
      output: error.stdout + error.stderr,
    }),
  );
}

describe('npm start and the other commands without NODE_ENV', () => {
  it('npm start sets NODE_ENV=development itself and warns, naming the public token, the public key and loopback egress', async () => {
    const started = await cli('run-platform.ts', {});
    const warning = started.output.split('\n').find((line) => line.includes('DEVELOPMENT MODE'));
    expect(warning, started.output).toBeDefined();
    const { level, msg } = JSON.parse(warning!);
    expect(level).toBe('warn');
    expect(msg).toContain('NODE_ENV was not set, so `npm start` set NODE_ENV=development');
    expect(msg).toContain('the API accepts the public admin token "deeplens-dev-admin-token"');
    expect(msg).toContain('storage secrets are encrypted with a public key');
    expect(msg).toContain("tenants' endpoints may reach loopback addresses");
    expect(started.output).toMatch(/migration failed; not starting the services/);
    expect(started.code).toBe(1);
  });

  it('npm start keeps an explicit NODE_ENV=production: no warning, and without a key it refuses with 78', async () => {
    const refused = await cli('run-platform.ts', { NODE_ENV: 'production' });
    expect(refused.code).toBe(78);
    expect(refused.output).toContain('DEEPLENS_ENCRYPTION_KEY: required unless NODE_ENV=development');
    expect(refused.output).not.toContain('DEVELOPMENT MODE');
  });

  it('npm run migrate needs no encryption key (it reads no secret), in production by default', async () => {
    const migrated = await cli('migrate.ts', {});
    expect(migrated.output).not.toContain('DEEPLENS_ENCRYPTION_KEY');
    expect(migrated.output).toMatch(/migration failed/); // it got as far as the database
    expect(migrated.code).toBe(1);
  });
});
