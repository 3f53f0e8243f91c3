#!/usr/bin/env node
// Applies every pending migration (platform, identity, template, then the
// tenant fleet) and exits non-zero on any failure.
import { baseEnvSchema, parseEnv, parseEnvOrExit } from '../config/env.js';
import { migratePlatform } from '../db/bootstrap.js';
import { createLogger } from '../logger.js';

const env = parseEnvOrExit('migrate', () => parseEnv(baseEnvSchema, process.env, [], { holdsSecrets: false }));
const log = createLogger({ name: 'migrate', level: env.LOG_LEVEL });
try {
  const result = await migratePlatform(env, log);
  if (result.fleet.failed.length) {
    log.error({ failed: result.fleet.failed }, 'some tenant databases could not be migrated; run again to resume');
    process.exitCode = 1;
  } else {
    log.info({ tenantsMigrated: result.fleet.migrated }, 'migrations complete');
  }
} catch (error) {
  log.fatal({ err: error }, 'migration failed');
  process.exitCode = 1;
}
