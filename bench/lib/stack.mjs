import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger, migratePlatform, SERVICE_NODE_FLAGS } from '@deeplens/shared';
import { Redis } from 'ioredis';
import pg from 'pg';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const RESULTS = join(ROOT, 'bench/results');

/** The one database prefix the suite uses; cleanup refuses anything else. */
const BENCH_DB_PREFIX = 'bench_';
const BENCH_PREFIX_PATTERN = /^bench_$/;

export const ADMIN_TOKEN = 'bench-admin-token-0123456789abcdef';
export const SERVICE_TOKEN = 'bench-service-token-0123456789abcdef';

export async function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

export const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

/** Polls until `check` gives something other than undefined. */
export async function waitFor(check, { timeoutMs = 120_000, intervalMs = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}

const BENCH_OWN = new Set([
  'DEEPLENS_DB_PREFIX',
  'DEEPLENS_QUEUE_PREFIX',
  'DEEPLENS_ADMIN_TOKENS',
  'DEEPLENS_SERVICE_TOKENS',
  'DEEPLENS_ENCRYPTION_KEY',
]);

export function benchEnv() {
  const runId = randomBytes(3).toString('hex');
  return {
    runId,
    env: {
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      DATABASE_URL: process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres',
      REDIS_URL: process.env.REDIS_URL || 'redis://127.0.0.1:6379',
      DEEPLENS_DB_PREFIX: BENCH_DB_PREFIX,
      DEEPLENS_QUEUE_PREFIX: `bench-${runId}`,
      DEEPLENS_ADMIN_TOKENS: ADMIN_TOKEN,
      DEEPLENS_SERVICE_TOKENS: SERVICE_TOKEN,
      DEEPLENS_ENCRYPTION_KEY: `bench:${randomBytes(24).toString('hex')}`,
      // The load generator is one client with one token: a per-token limit would measure the limiter.
      DEEPLENS_RATE_LIMIT_PER_SECOND: '10000000',
      // Any other DEEPLENS_* setting of the caller's environment reaches the services, for experiments
      // (DEEPLENS_WORKER_CONCURRENCY=8 node bench/run.mjs …); the prefixes, tokens and key the bench
      // calls with stay its own, so a developer shell's settings cannot turn every call into a 401.
      ...Object.fromEntries(
        Object.entries(process.env).filter(([name]) => name.startsWith('DEEPLENS_') && !BENCH_OWN.has(name)),
      ),
    },
  };
}

const quote = (name) => pg.escapeIdentifier(name);

export async function withAdmin(databaseUrl, work) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * Drops every database and role under the bench prefix and every Redis key
 * under the run's queue prefix. Written for `bench_` alone (the tests' own
 * cleanup refuses it by design): it never touches another prefix.
 */
export async function cleanup(env, { redisKeyPrefix } = {}) {
  const prefix = env.DEEPLENS_DB_PREFIX;
  if (!BENCH_PREFIX_PATTERN.test(prefix)) throw new Error(`refusing to clean up prefix "${prefix}"`);
  let databases = 0;
  await withAdmin(env.DATABASE_URL, async (admin) => {
    const { rows } = await admin.query(
      `SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY datistemplate, datname`,
      [prefix],
    );
    for (const { datname } of rows) {
      if (!datname.startsWith(prefix)) continue; // belt and braces
      await admin.query(`ALTER DATABASE ${quote(datname)} WITH IS_TEMPLATE false`);
      await admin.query(`DROP DATABASE IF EXISTS ${quote(datname)} WITH (FORCE)`);
      databases += 1;
    }
    const roles = await admin.query(`SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)`, [prefix]);
    for (const { rolname } of roles.rows) {
      if (!rolname.startsWith(prefix)) continue;
      await admin.query(`DROP OWNED BY ${quote(rolname)}`).catch(() => undefined);
      await admin.query(`DROP ROLE IF EXISTS ${quote(rolname)}`);
    }
  });
  if (redisKeyPrefix) {
    if (!/^bench-[0-9a-f]{6}$/.test(redisKeyPrefix))
      throw new Error(`refusing to delete Redis keys under "${redisKeyPrefix}"`);
    const redis = new Redis(env.REDIS_URL, { maxRetriesPerRequest: 3 });
    try {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${redisKeyPrefix}:*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await redis.unlink(...keys);
      } while (cursor !== '0');
    } finally {
      redis.disconnect();
    }
  }
  return databases;
}

export async function migrate(env) {
  return migratePlatform(env, createLogger({ name: 'bench-migrate', level: 'warn' }));
}

/**
 * A service as its own process from its build (`services/<name>/dist/main.js`),
 * output to bench/results/logs. `--cpu-prof` when profiled.
 */
export async function startService(
  name,
  env,
  { profile = false, readyPattern = /started|Server listening/, extraEnv = {} } = {},
) {
  const logs = join(RESULTS, 'logs');
  mkdirSync(logs, { recursive: true });
  const profiles = join(RESULTS, 'profiles');
  if (profile) mkdirSync(profiles, { recursive: true });
  const args = [
    ...SERVICE_NODE_FLAGS, // as npm start and the container image run them
    ...(profile
      ? ['--cpu-prof', '--cpu-prof-dir', profiles, '--cpu-prof-name', `${name}-${Date.now()}.cpuprofile`]
      : []),
    join(ROOT, 'services', name, 'dist/main.js'),
  ];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(join(logs, `${name}.log`), { flags: 'a' });
  const exited = new Promise((done) => child.once('exit', (code, signal) => done({ code, signal })));
  let buffered = '';
  const ready = new Promise((done, fail) => {
    const onData = (chunk) => {
      log.write(chunk);
      buffered = (buffered + chunk.toString()).slice(-20_000);
      if (readyPattern.test(buffered)) done();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    exited.then(({ code, signal }) =>
      fail(new Error(`${name} exited (${code ?? signal}) before starting:\n${buffered}`)),
    );
    setTimeout(() => fail(new Error(`${name} did not start within 30 s:\n${buffered}`)), 30_000).unref();
  });
  await ready;
  return {
    name,
    pid: child.pid,
    child,
    output: () => buffered,
    rssMb: () => rssMb(child.pid),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
      log.end();
    },
  };
}

function rssMb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return Math.round((kb / 1024) * 10) / 10;
}

/** A small HTTP client for the API under test. */
export function apiClient(baseUrl, token = ADMIN_TOKEN) {
  return async function call(method, path, body, { headers = {}, as = token } = {}) {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${as}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = { raw: text };
    }
    return { status: response.status, body: json };
  };
}
