import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@deeplens/shared/testing';

/**
 * Helpers for fixtures that run real servers on 127.0.0.1: a free port, a
 * readiness poll (never a fixed sleep), and a child process that is stopped
 * with its whole process group.
 */

// One free-port helper for every test: the shared testing kit's.
export { freePort };

/** A port on 127.0.0.1 that refuses connections (bound once, then released). */
export const closedPort = freePort;

export async function makeTempDir(label: string): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `deeplens-${label}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** Polls `check` until it resolves true; fails with `what` and the last error after `timeoutMs`. */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  { timeoutMs = 30_000, intervalMs = 100, alive }: { timeoutMs?: number; intervalMs?: number; alive?: () => string | null } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const dead = alive?.();
    if (dead) throw new Error(`${what}: ${dead}`);
    try {
      if (await check()) return;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${timeoutMs} ms${last instanceof Error ? ` (last error: ${last.message})` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Resolves true once something accepts TCP connections on 127.0.0.1:port. */
export function tcpAccepts(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(port, host, () => done(true));
  });
}

export interface ManagedProcess {
  child: ChildProcess;
  /** The last few KB of stdout+stderr, for failure messages. */
  output(): string;
  /** Null while running, else how it ended. */
  exited(): string | null;
  stop(): Promise<void>;
}

export function startProcess(name: string, command: string, args: string[], options: SpawnOptions = {}): ManagedProcess {
  // detached: the server gets its own process group, so stop() also ends its forks.
  const child = spawn(command, args, { ...options, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-8000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let ended: string | null = null;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      ended = `${name} exited (${signal ?? `code ${code}`}): ${output.slice(-2000)}`;
      resolve();
    });
    child.once('error', (error) => {
      ended = `${name} could not start: ${error.message}`;
      resolve();
    });
  });
  return {
    child,
    output: () => output,
    exited: () => ended,
    async stop() {
      if (ended || child.pid === undefined) return;
      const signalGroup = (signal: NodeJS.Signals) => {
        try {
          process.kill(-child.pid!, signal);
        } catch {
          // already gone
        }
      };
      signalGroup('SIGTERM');
      const killer = setTimeout(() => signalGroup('SIGKILL'), 5000);
      await exit;
      clearTimeout(killer);
      child.stdout?.destroy();
      child.stderr?.destroy();
    },
  };
}

/** Resolves the absolute path of `command` on PATH, or null. */
export async function which(command: string): Promise<string | null> {
  const { access } = await import('node:fs/promises');
  const { constants } = await import('node:fs');
  const dirs = (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin', '/usr/local/sbin']);
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, command);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  return null;
}

/** A TCP server on 127.0.0.1 that accepts connections and never answers: for step timeouts. */
export async function startSilentServer(): Promise<{ port: number; stop(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
