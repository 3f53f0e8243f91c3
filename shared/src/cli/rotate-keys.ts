#!/usr/bin/env node
// Re-seals every stored secret (tenant storage configs, webhook signing
// secrets) under the first key of DEEPLENS_ENCRYPTION_KEY (`new:key,old:key`),
// while the services run, and moves rows still in the legacy pgcrypto form to
// the sealed one. Prints the counts as JSON; exits 1 while anything is left
// under another key or in the legacy form, so it can simply be run again. Once
// it exits 0, the old keys may be removed from the keyring.
import { baseEnvSchema, keyringFromEnv, parseEnv, parseEnvOrExit } from '../config/env.js';
import { rotateKeys } from '../crypto/rotate-keys.js';
import { openPlatformPool } from '../db/pool.js';
import { createLogger } from '../logger.js';

const env = parseEnvOrExit('keys:rotate', () => parseEnv(baseEnvSchema));
// Logs to stderr: stdout carries only the JSON report, for scripts.
const log = createLogger({ name: 'keys-rotate', level: env.LOG_LEVEL, destination: process.stderr });
const keyring = keyringFromEnv(env);
const pool = await openPlatformPool(env);
const stop = new AbortController();
// Ctrl-C stops between rows: everything done so far stays done.
process.once('SIGINT', () => stop.abort());
process.once('SIGTERM', () => stop.abort());
try {
  const report = await rotateKeys(pool, keyring, { log, signal: stop.signal });
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  if (report.remaining > 0) {
    log.warn(
      { remaining: report.remaining, failed: report.failed.length },
      'some secrets are not sealed under the current key yet; run again',
    );
    process.exitCode = 1;
  } else {
    log.info(
      { rotated: report.rotated, currentKeyId: report.currentKeyId },
      'every stored secret is sealed under the current key',
    );
  }
} catch (error) {
  log.fatal({ errorName: (error as Error).name, code: (error as { code?: string }).code }, 'key rotation failed');
  process.exitCode = 1;
} finally {
  await pool.end();
}
