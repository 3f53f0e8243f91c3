#!/usr/bin/env node
// The `deeplens` command. Deliberately not src/main.ts: `npm start` runs every
// services/*/dist/main.js, and the CLI is not a service.
import { Command, CommanderError } from 'commander';
import { CliError, ExitCode } from './api-client.js';
import { registerKeysCommands } from './commands/keys.commands.js';
import { registerPlatformCommands } from './commands/platform.commands.js';
import { registerStorageCommands } from './commands/storage.commands.js';
import { registerTenantCommands } from './commands/tenant.commands.js';

/** Options every leaf command takes. */
const common = (command: Command) =>
  command
    .option('--json', 'print JSON for scripts instead of a table')
    .option('--timeout <seconds>', 'how long to wait for a job', '600');

function buildProgram(): Command {
  const program = new Command('deeplens')
    .description(
      'Operate the DeepLens control plane through its API.\n' +
        'DEEPLENS_API_URL (default http://127.0.0.1:8080) and DEEPLENS_TOKEN (an admin token; the public development\n' +
        'token is assumed only when the API is on 127.0.0.1 or localhost, and only an API in development accepts it).\n' +
        'Exit codes: 0 ok, 1 failed job or operation, 2 usage error, 3 API unreachable, 4 not found, 5 not authorized.',
    )
    .version('0.1.0')
    .exitOverride();
  registerPlatformCommands(program, common);
  registerTenantCommands(program, common);
  registerStorageCommands(program, common);
  registerKeysCommands(program, common);
  // Subcommands inherit exitOverride only when added after it; make sure every one has it.
  const override = (command: Command) => {
    command.exitOverride();
    command.commands.forEach(override);
  };
  override(program);
  return program;
}

async function run(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return ExitCode.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version end here too; commander has already printed its one line.
      return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    if (error instanceof CliError) {
      process.stderr.write(`deeplens: ${error.message}\n`);
      return error.exitCode;
    }
    process.stderr.write(`deeplens: unexpected error: ${(error as Error)?.message ?? String(error)}\n`);
    return ExitCode.failed;
  }
}

process.exitCode = await run(process.argv);
