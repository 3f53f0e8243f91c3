import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repositoryRoot = resolve(import.meta.dirname, '../../..');

describe('a process started with a bad environment', () => {
  it('exits 78 with one message naming every bad variable', async () => {
    const failed = await run(
      process.execPath,
      ['--conditions=@deeplens/source', '--import', 'tsx', 'shared/src/cli/migrate.ts'],
      {
        cwd: repositoryRoot,
        env: {
          PATH: process.env.PATH ?? '',
          NODE_ENV: 'production',
          REDIS_URL: 'not a url',
          DEEPLENS_DB_PREFIX: 'Bad-Prefix',
          DEEPLENS_PLATFORM_POOL_SIZE: 'many',
        },
      },
    ).catch((error: { code: number; stderr: string }) => error);
    expect(failed).toMatchObject({ code: 78 });
    const { stderr } = failed as { stderr: string };
    expect(stderr).toMatch(/^migrate: invalid configuration:/);
    for (const name of ['REDIS_URL', 'DEEPLENS_DB_PREFIX', 'DEEPLENS_PLATFORM_POOL_SIZE'])
      expect(stderr).toContain(name);
  });
});
