import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serviceEnvironment } from '../config/service-env.js';
import { SERVICE_NODE_FLAGS } from '../runtime/service-flags.js';

/**
 * Processes of the tests: the platform's own services, run from their
 * TypeScript sources as `npm start` runs them from their builds, and the
 * servers the tests stand in for the world (emulators, Samba), stopped with
 * their whole process group. Readiness is a signal (a log line, an answering
 * port), never a fixed sleep.
 */

const repositoryRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export interface ServiceProcess {
  child: ChildProcess;
  output: string[];
  exited: Promise<number | null>;
  /** Sends a signal and waits for the process to exit. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Runs a service as its own process from its TypeScript sources, the way
 * `npm start -w services/<name>` runs it from its build, and waits until it
 * says it has started. Crash tests kill it with SIGKILL.
 */
export async function startService(
  /** A folder under services/ with a src/main.ts. */
  service: string,
  env: Record<string, string>,
  { readyPattern = /started|Server listening/, timeoutMs = 30_000 } = {},
): Promise<ServiceProcess> {
  const child = spawn(
    process.execPath,
    [
      ...SERVICE_NODE_FLAGS,
      '--conditions=@deeplens/source',
      '--import',
      'tsx',
      resolve(repositoryRoot, `services/${service}/src/main.ts`),
    ],
    // Info level at least: the readiness line is an info line.
    // As `npm start` runs it: only the provisioner is given the admin DATABASE_URL.
    {
      cwd: repositoryRoot,
      env: {
        PATH: process.env.PATH ?? '',
        ...serviceEnvironment(service, env),
        LOG_LEVEL: env.LOG_LEVEL === 'warn' ? 'info' : (env.LOG_LEVEL ?? 'info'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const output: string[] = [];
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  let ready: () => void;
  const readyPromise = new Promise<void>((done) => (ready = done));
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n').filter(Boolean)) {
      output.push(line);
      if (readyPattern.test(line)) ready();
    }
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`${service} did not start:\n${output.join('\n')}`)), timeoutMs).unref(),
  );
  const died = exited.then((code) => {
    throw new Error(`${service} exited with ${code} before starting:\n${output.join('\n')}`);
  });
  await Promise.race([readyPromise, timeout, died]);
  return {
    child,
    output,
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export interface ManagedProcess {
  child: ChildProcess;
  /** The last few KB of stdout+stderr, for failure messages. */
  output(): string;
  /** Null while running, else how it ended. */
  exited(): string | null;
  stop(): Promise<void>;
}

export function startProcess(
  name: string,
  command: string,
  args: string[],
  options: SpawnOptions = {},
): ManagedProcess {
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

export async function makeTempDir(label: string): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `deeplens-${label}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}
