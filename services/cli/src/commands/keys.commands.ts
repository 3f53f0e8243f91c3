import type { Command } from 'commander';
import { CliError, ExitCode } from '../api-client.js';
import { createOutput } from '../output.js';
import { fields } from '../output.js';

/**
 * `deeplens keys rotate` re-seals every stored secret (storage configs, webhook
 * signing secrets) under the first key of DEEPLENS_ENCRYPTION_KEY, and moves
 * rows still in the legacy pgcrypto form to the sealed one. It needs the platform database and the keyring,
 * which the API never hands out, so it runs here, like `npm run keys:rotate`,
 * with the same environment as the services (DATABASE_URL, DEEPLENS_DB_PREFIX,
 * DEEPLENS_ENCRYPTION_KEY, …). The shared package is loaded only for this
 * command, so the API commands start fast.
 */
export function registerKeysCommands(program: Command, common: (command: Command) => Command) {
  const keys = program.command('keys').description('encryption keys of stored secrets');
  common(
    keys.command('rotate').description('re-seal every stored secret under the current key (needs database access)'),
  ).action(async (options: { json?: boolean }) => {
    const out = createOutput(Boolean(options.json));
    const shared = await import('@deeplens/shared');
    let env: ReturnType<typeof shared.parseEnv<typeof shared.baseEnvSchema>>;
    try {
      env = shared.parseEnv(shared.baseEnvSchema);
    } catch (error) {
      if (error instanceof shared.ConfigError) throw new CliError(error.message, ExitCode.usage);
      throw error;
    }
    const log = shared.createLogger({ name: 'keys-rotate', level: env.LOG_LEVEL, destination: process.stderr });
    const keyring = shared.keyringFromEnv(env);
    let pool: Awaited<ReturnType<typeof shared.openPlatformPool>>;
    try {
      pool = await shared.openPlatformPool(env);
    } catch (error) {
      throw new CliError(`cannot reach the platform database (${(error as Error).name})`, ExitCode.unreachable);
    }
    const stop = new AbortController();
    process.once('SIGINT', () => stop.abort());
    try {
      const report = await shared.rotateKeys(pool, keyring, { log, signal: stop.signal });
      out.result(report, () =>
        fields([
          ['current key', report.currentKeyId],
          ['re-sealed now', report.rotated],
          ['of which legacy', report.migratedLegacy],
          ['already current', report.alreadyCurrent],
          ['remaining', report.remaining],
          ...Object.entries(report.byKeyId).map(([kind, ids]): [string, unknown] => [
            `${kind} by key`,
            Object.entries(ids)
              .map(([id, n]) => `${id} ${n}`)
              .join(', ') || 'none',
          ]),
          ...report.failed.map((entry): [string, unknown] => [`failed ${entry.kind} ${entry.id}`, entry.reason]),
        ]),
      );
      if (report.remaining > 0)
        throw new CliError(
          `${report.remaining} secrets are not sealed under key ${report.currentKeyId} yet; run again`,
          ExitCode.failed,
        );
    } finally {
      await pool.end();
    }
  });
}
