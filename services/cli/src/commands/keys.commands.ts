import type { Command } from 'commander';
import { CliError, ExitCode } from '../api-client.js';
import { createOutput } from '../output.js';
import { fields } from '../output.js';

/**
 * `deeplens keys rotate` re-encrypts every storage config under the first key
 * of DEEPLENS_ENCRYPTION_KEY. It needs the platform database and the keyring,
 * which the API never hands out, so it runs here, like `npm run keys:rotate`,
 * with the same environment as the services (DATABASE_URL, DEEPLENS_DB_PREFIX,
 * DEEPLENS_ENCRYPTION_KEY, …). The shared package is loaded only for this
 * command, so the API commands start fast.
 */
export function registerKeysCommands(program: Command, common: (command: Command) => Command) {
  const keys = program.command('keys').description('encryption keys of stored storage secrets');
  common(keys.command('rotate').description('re-encrypt every storage config under the current key (needs database access)')).action(
    async (options: { json?: boolean }) => {
      const out = createOutput(Boolean(options.json));
      const shared = await import('@deeplens/shared');
      let env;
      try {
        env = shared.parseEnv(shared.baseEnvSchema);
      } catch (error) {
        if (error instanceof shared.ConfigError) throw new CliError(error.message, ExitCode.usage);
        throw error;
      }
      const log = shared.createLogger({ name: 'keys-rotate', level: env.LOG_LEVEL, destination: process.stderr });
      const keyring = shared.keyringFromEnv(env);
      let pool;
      try {
        pool = await shared.openPlatformPool(env);
      } catch (error) {
        throw new CliError(`cannot reach the platform database (${(error as Error).name})`, ExitCode.unreachable);
      }
      const stop = new AbortController();
      process.once('SIGINT', () => stop.abort());
      try {
        const report = await shared.rotateStorageKeys(pool, keyring, { log, signal: stop.signal });
        out.result(report, () =>
          fields([
            ['current key', report.currentKeyId],
            ['re-encrypted now', report.rotated],
            ['already current', report.alreadyCurrent],
            ['remaining', report.remaining],
            ['by key id', Object.entries(report.byKeyId).map(([id, n]) => `${id} ${n}`).join(', ')],
            ...report.failed.map((entry): [string, unknown] => [`failed ${entry.tenantId}`, entry.reason]),
          ]),
        );
        if (report.remaining > 0) throw new CliError(`${report.remaining} configs are not under key ${report.currentKeyId} yet; run again`, ExitCode.failed);
      } finally {
        await pool.end();
      }
    },
  );
}
