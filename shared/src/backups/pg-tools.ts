import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { AppError } from '../errors.js';

/**
 * pg_dump and pg_restore, found once per process: `DEEPLENS_PG_BIN_DIR` when
 * set, else the newest /usr/lib/postgresql/<major>/bin (Debian, Ubuntu), then
 * /usr/local/pgsql/bin, then PATH. A dump must come from a pg_dump at least as
 * new as the server, so the newest installed major wins.
 */

export type PgTool = 'pg_dump' | 'pg_restore';

const executable = (path: string) => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

function pgToolCandidates(tool: PgTool, env: NodeJS.ProcessEnv = process.env): string[] {
  const dirs: string[] = [];
  if (env.DEEPLENS_PG_BIN_DIR) dirs.push(env.DEEPLENS_PG_BIN_DIR);
  try {
    const majors = readdirSync('/usr/lib/postgresql')
      .filter((name) => /^\d+$/.test(name))
      .sort((a, b) => Number(b) - Number(a));
    dirs.push(...majors.map((major) => `/usr/lib/postgresql/${major}/bin`));
  } catch {
    // not a Debian layout
  }
  dirs.push('/usr/local/pgsql/bin', ...(env.PATH ?? '').split(':').filter(Boolean), '/usr/bin', '/usr/local/bin');
  return dirs.map((dir) => join(dir, tool));
}

const found = new Map<PgTool, string>();

export function findPgTool(tool: PgTool, env: NodeJS.ProcessEnv = process.env): string {
  const cached = found.get(tool);
  if (cached) return cached;
  const candidates = pgToolCandidates(tool, env);
  // An explicit directory is the operator's word: do not fall back past it silently.
  if (env.DEEPLENS_PG_BIN_DIR && !executable(candidates[0]!)) {
    throw new AppError('internal_error', `${tool} not found in DEEPLENS_PG_BIN_DIR (${env.DEEPLENS_PG_BIN_DIR})`);
  }
  const path = candidates.find(executable);
  if (!path)
    throw new AppError('internal_error', `${tool} not found: install the PostgreSQL client or set DEEPLENS_PG_BIN_DIR`);
  found.set(tool, path);
  return path;
}

/** libpq arguments for a connection URI, the password through PGPASSWORD so it never shows in `ps`. */
function libpqConnection(connectionUri: string): { dbname: string; env: Record<string, string> } {
  const url = new URL(connectionUri);
  const password = decodeURIComponent(url.password);
  url.password = '';
  return { dbname: url.toString(), env: password ? { PGPASSWORD: password } : {} };
}

export interface PgProcess {
  child: ChildProcess;
  /** Resolves when the tool exits 0; rejects with its last stderr lines otherwise. */
  done: Promise<void>;
}

function run(tool: PgTool, args: string[], connectionUri: string, stdio: { stdin?: Readable }): PgProcess {
  const { dbname, env } = libpqConnection(connectionUri);
  const child = spawn(findPgTool(tool), [...args, `--dbname=${dbname}`], {
    env: { ...process.env, ...env },
    stdio: [stdio.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  if (stdio.stdin) stdio.stdin.pipe(child.stdin as Writable);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-2_000);
  });
  const done = new Promise<void>((resolve, reject) => {
    child.once('error', (error) => reject(new AppError('internal_error', `${tool} could not run: ${error.message}`)));
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else {
        const detail = stderr.trim().split('\n').slice(-3).join(' | ').replaceAll(connectionUri, '(database)');
        reject(
          new AppError('backup_failed', `${tool} exited with ${code ?? signal}: ${detail}`, {
            retryable: true,
            httpStatus: 500,
          }),
        );
      }
    });
  });
  return { child, done };
}

/** `pg_dump --format=custom` of one database; read the dump from `child.stdout`. */
export function spawnPgDump(connectionUri: string): PgProcess & { stdout: Readable } {
  const dump = run('pg_dump', ['--format=custom', '--no-password'], connectionUri, {});
  return { ...dump, stdout: dump.child.stdout! };
}

/** `pg_restore` of a custom-format dump file into an existing, empty database; stops at the first error. */
export function spawnPgRestore(connectionUri: string, file: string): PgProcess {
  return run('pg_restore', ['--exit-on-error', '--no-password', file], connectionUri, {});
}
