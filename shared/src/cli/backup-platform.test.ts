import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { findPgTool } from '../backups/pg-tools.js';

const run = promisify(execFile);
const repositoryRoot = resolve(import.meta.dirname, '../../..');
const folder = mkdtempSync(join(tmpdir(), 'deeplens-platform-backup-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

/** `npm run backup:platform` as an operator runs it, against this test run's platform database. */
describe('platform backup command', () => {
  it('writes a pg_dump archive of the platform database with the size and checksum it reports', async () => {
    const out = join(folder, 'platform.dump');
    const { stdout } = await run(
      process.execPath,
      ['--conditions=@deeplens/source', '--import', 'tsx', 'shared/src/cli/backup-platform.ts', '--out', out],
      {
        cwd: repositoryRoot,
        env: { ...process.env, NODE_ENV: 'test', DEEPLENS_ENCRYPTION_KEY: 'test:0123456789abcdef0123' },
      },
    );
    const report = JSON.parse(stdout.trim());
    const bytes = readFileSync(out);
    expect(report).toMatchObject({ database: `${process.env.DEEPLENS_DB_PREFIX}deeplens_platform`, file: out });
    expect(report.sizeBytes).toBe(bytes.length);
    expect(report.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    // A real custom-format archive: pg_restore can list it, and it holds the registry.
    const { stdout: listing } = await run(await findPgTool('pg_restore'), ['--list', out]);
    expect(listing).toMatch(/TABLE public tenants /);
    expect(listing).toMatch(/TABLE public tenant_storage_configs /);
  });

  it('refuses to run without --out, with a usage line and exit 64', async () => {
    const failed = await run(
      process.execPath,
      ['--conditions=@deeplens/source', '--import', 'tsx', 'shared/src/cli/backup-platform.ts'],
      {
        cwd: repositoryRoot,
        env: { ...process.env, NODE_ENV: 'test', DEEPLENS_ENCRYPTION_KEY: 'test:0123456789abcdef0123' },
      },
    ).catch((error: { code: number; stderr: string }) => error);
    expect(failed).toMatchObject({
      code: 64,
      stderr: expect.stringMatching(/usage: npm run backup:platform -- --out <file>/),
    });
  });
});
