import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serviceEnvironment } from '../config/service-env.js';
import { SERVICE_NODE_FLAGS } from '../runtime/service-flags.js';

export { deleteRedisKeys, dropPrefixedDatabases } from './cleanup.js';
export { freePort } from './private-services.js';
export { enqueueJob } from './enqueue.js';
export { inOutboxTransaction } from './outbox.js';
export { apiCallEvent } from './events.js';
export { makeTenantLogin, tenantLoginUri } from './tenant-login.js';

export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';
export const TEST_SERVICE_TOKEN = 'test-service-token-0123456789abcdef';
export const TEST_ENCRYPTION_KEY = 'test-k1:test-encryption-key-0123456789';

const repositoryRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/**
 * The environment of services under test: this run's databases, and a queue
 * prefix of its own per call, so test files running side by side never take
 * each other's jobs.
 */
export function testEnv(overrides: Record<string, string> = {}): Record<string, string> {
  const required = (name: string) => {
    const value = process.env[name];
    if (!value) throw new Error(`${name} is not set: run the tests through vitest (its global setup sets it)`);
    return value;
  };
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    DATABASE_URL: required('DATABASE_URL'),
    REDIS_URL: required('REDIS_URL'),
    DEEPLENS_DB_PREFIX: required('DEEPLENS_DB_PREFIX'),
    DEEPLENS_QUEUE_PREFIX: `${required('DEEPLENS_TEST_QUEUE_PREFIX')}-${randomBytes(3).toString('hex')}`,
    DEEPLENS_ADMIN_TOKENS: TEST_ADMIN_TOKEN,
    DEEPLENS_SERVICE_TOKENS: TEST_SERVICE_TOKEN,
    DEEPLENS_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
    DEEPLENS_JOB_LOCK_MS: '2000',
    DEEPLENS_STALLED_INTERVAL_MS: '1000',
    // Tests read their own writes: quota answers straight from Redis (the cache has its own test).
    DEEPLENS_QUOTA_CACHE_MS: '0',
    // Test files share one database prefix, so they would share one pool of spare databases:
    // each provisioning clones here, and the pool has its own test (spare-databases.e2e).
    DEEPLENS_SPARE_DATABASES: '0',
    // The storage emulators and webhook receivers of the tests listen on loopback, which the
    // egress policy refuses unless an operator allows it: tests allow it as an operator would.
    // Tests of the policy itself override this.
    DEEPLENS_EGRESS_ALLOW: '127.0.0.0/8,::1',
    DEEPLENS_NFS_ROOTS: tmpdir(),
    ...overrides,
  };
}

/**
 * The API over real HTTP (a started `api` process), as an operator's client
 * would call it: JSON in, the status and text out.
 */
export function httpApiClient(base: string, token: string = TEST_ADMIN_TOKEN) {
  return async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, text, json: () => JSON.parse(text) };
  };
}

export const uniqueName = (base: string) => `${base}-${randomBytes(3).toString('hex')}`;

/** Polls until `check` returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(
  check: () => Promise<T | undefined> | T | undefined,
  { timeoutMs = 30_000, intervalMs = 50, what = 'condition' } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    }
    await new Promise((done) => setTimeout(done, intervalMs));
  }
}

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
    [...SERVICE_NODE_FLAGS, '--conditions=@deeplens/source', '--import', 'tsx', resolve(repositoryRoot, `services/${service}/src/main.ts`)],
    // Info level at least: the readiness line is an info line.
    // As `npm start` runs it: only the provisioner is given the admin DATABASE_URL.
    { cwd: repositoryRoot, env: { PATH: process.env.PATH ?? '', ...serviceEnvironment(service, env), LOG_LEVEL: env.LOG_LEVEL === 'warn' ? 'info' : (env.LOG_LEVEL ?? 'info') }, stdio: ['ignore', 'pipe', 'pipe'] },
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
