import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, untilPort } from './ports.js';

/**
 * PostgreSQL and Redis of a test's own, for fault tests that stop, kill and
 * restart them. The machine's shared instances (5432, 6379) serve every other
 * test file at the same time and must never be touched.
 */

const run = promisify(execFile);

export interface PrivateRedis {
  url: string;
  port: number;
  /** Stops the server: SIGKILL (a crash) by default, SIGTERM for a clean shutdown. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port and data directory (the AOF is replayed). */
  start(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A redis-server on a free port with an append-only file fsynced on every
 * write (`appendfsync always`): what the platform needs for an acknowledged
 * write to survive a crash, so a test can kill it and find the write again.
 */
export async function startPrivateRedis({
  appendfsync = 'always' as 'always' | 'everysec',
} = {}): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'deeplens-redis-'));
  let child: ChildProcess | null = null;
  const start = async () => {
    child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'yes',
        '--appendfsync',
        appendfsync,
        '--maxmemory-policy',
        'noeviction',
        '--dir',
        dir,
      ],
      { stdio: 'ignore' },
    );
    await untilPort(port, true);
  };
  const stop = async (signal: NodeJS.Signals = 'SIGKILL') => {
    const current = child;
    if (!current || current.exitCode !== null || current.signalCode !== null) return;
    const exited = new Promise((done) => current.once('exit', done));
    current.kill(signal);
    await exited;
    await untilPort(port, false);
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop,
    start,
    async close() {
      await stop('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface PrivatePostgres {
  /** Superuser URL of the cluster's `postgres` database. */
  url: string;
  port: number;
  /** `pg_ctl restart -m fast`: every connection is cut, the server comes back. */
  restart(): Promise<void>;
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

const PG_BIN = '/usr/lib/postgresql/15/bin';

/**
 * A PostgreSQL 15 cluster of the test's own (initdb in a temporary folder,
 * trust auth, a free port). Tests run as root and PostgreSQL refuses to, so
 * initdb and pg_ctl run as the `postgres` system user, which owns the folder.
 */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'deeplens-pg-'));
  const ids = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
  chownSync(dir, Number(ids[0].stdout.trim()), Number(ids[1].stdout.trim()));
  const data = join(dir, 'data');
  const asPostgres = (command: string, args: string[]) =>
    run('runuser', ['-u', 'postgres', '--', `${PG_BIN}/${command}`, ...args]);
  await asPostgres('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
  const start = async () => {
    await asPostgres('pg_ctl', ['-D', data, '-o', options, '-l', join(dir, 'log'), '-w', 'start']);
    await untilPort(port, true);
  };
  const stop = async (mode: 'fast' | 'immediate' = 'fast') => {
    await asPostgres('pg_ctl', ['-D', data, '-m', mode, '-w', 'stop']).catch(() => undefined);
  };
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    stop,
    start,
    async restart() {
      await asPostgres('pg_ctl', ['-D', data, '-o', options, '-l', join(dir, 'log'), '-m', 'fast', '-w', 'restart']);
      await untilPort(port, true);
    },
    async close() {
      await stop('immediate');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
