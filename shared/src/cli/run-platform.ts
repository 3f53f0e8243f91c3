#!/usr/bin/env node
// `npm start`: migrate, then run the API and every worker as one process
// group. Each service is its own process (as in production, where each scales
// on its own); this parent forwards SIGTERM/SIGINT, waits for all of them to
// drain, and stops everything if one dies, so a broken service is never
// silently missing.
//
// It is the quick start on a laptop, so it runs in development unless told
// otherwise: it sets NODE_ENV=development itself when NODE_ENV is unset (every
// other process defaults to production) and says so loudly.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { baseEnvSchema, DEVELOPMENT_ADMIN_TOKEN, parseEnv, parseEnvOrExit } from '../config/env.js';
import { serviceEnvironment } from '../config/service-env.js';
import { migratePlatform } from '../db/bootstrap.js';
import { createLogger } from '../logger.js';
import { SERVICE_NODE_FLAGS } from '../runtime/service-flags.js';

const servicesDir = resolve(dirname(fileURLToPath(import.meta.url)), '../../../services');

// Set in process.env, not just parsed: the services inherit it.
const developmentByDefault = !process.env.NODE_ENV;
if (developmentByDefault) process.env.NODE_ENV = 'development';
const env = parseEnvOrExit('deeplens', () => parseEnv(baseEnvSchema));
const log = createLogger({ name: 'platform', level: env.LOG_LEVEL });
if (env.NODE_ENV === 'development') log.warn(developmentWarning());

try {
  const result = await migratePlatform(env, log);
  if (result.fleet.failed.length) {
    log.warn({ failed: result.fleet.failed }, 'some tenant databases were not migrated; `npm run migrate` resumes');
  }
} catch (error) {
  log.fatal({ err: error }, 'migration failed; not starting the services');
  process.exit(1);
}

const services = readdirSync(servicesDir)
  .filter((name) => existsSync(join(servicesDir, name, 'dist/main.js')))
  .sort((a, b) => (a === 'api' ? 1 : b === 'api' ? -1 : a.localeCompare(b))); // workers first, the API last
const children = new Map<string, ChildProcess>();
let stopping = false;

function stopAll(signal: NodeJS.Signals) {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'stopping every service');
  for (const child of children.values()) child.kill(signal);
}

for (const service of services) {
  // Own process group: a terminal's Ctrl-C reaches the service once, through stopAll, not twice.
  const child = spawn(process.execPath, [...SERVICE_NODE_FLAGS, join(servicesDir, service, 'dist/main.js')], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    // The admin DATABASE_URL for the provisioner only; the others get the platform database as platform_service.
    env: serviceEnvironment(service, process.env),
    detached: true,
  });
  children.set(service, child);
  child.once('exit', (code, signal) => {
    children.delete(service);
    if (!stopping) {
      log.error({ service, code, signal }, 'a service stopped unexpectedly; stopping the others');
      process.exitCode = 1;
      stopAll('SIGTERM');
    }
    if (children.size === 0) {
      log.info('all services stopped');
      process.exit(process.exitCode ?? 0);
    }
  });
}
log.info({ services }, 'DeepLens control plane starting');

process.on('SIGTERM', () => stopAll('SIGTERM'));
process.on('SIGINT', () => stopAll('SIGINT'));

/** One line naming everything public about this installation, for whoever reads the terminal. */
function developmentWarning(): string {
  const open = [
    ...(process.env.DEEPLENS_ADMIN_TOKENS
      ? []
      : [`the API accepts the public admin token "${DEVELOPMENT_ADMIN_TOKEN}"`]),
    ...(env.DEEPLENS_ENCRYPTION_KEY ? [] : ['storage secrets are encrypted with a public key']),
    "tenants' endpoints may reach loopback addresses",
  ];
  const why = developmentByDefault
    ? 'NODE_ENV was not set, so `npm start` set NODE_ENV=development'
    : 'NODE_ENV=development';
  return (
    `DEVELOPMENT MODE (${why}): ${open.join('; ')}. For a laptop only: never expose it. ` +
    'Anywhere else set NODE_ENV=production, DEEPLENS_ADMIN_TOKENS and DEEPLENS_ENCRYPTION_KEY (docs/operations.md).'
  );
}
