import { readFileSync } from 'node:fs';
import { ApiClient, apiConfigFromEnv, CliError, ExitCode } from './api-client.js';
import { createOutput, type Output } from './output.js';

export interface CommandContext {
  client: ApiClient;
  out: Output;
  waitTimeoutMs: number;
}

export interface CommonOptions {
  json?: boolean;
  timeout?: string;
}

export function contextFor(options: CommonOptions): CommandContext {
  const timeoutSeconds = Number(options.timeout ?? 600);
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0)
    throw new CliError(`--timeout must be a number of seconds`, ExitCode.usage);
  return {
    client: new ApiClient(apiConfigFromEnv()),
    out: createOutput(Boolean(options.json)),
    waitTimeoutMs: timeoutSeconds * 1000,
  };
}

/** `--storage-config '{"bucket": …}'` or `--storage-config @config.json`. */
export function readJsonArgument(value: string, name: string): Record<string, unknown> {
  let text = value;
  if (value.startsWith('@')) {
    try {
      text = readFileSync(value.slice(1), 'utf8');
    } catch (error) {
      throw new CliError(
        `${name}: cannot read ${value.slice(1)} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
        ExitCode.usage,
      );
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CliError(`${name} is not valid JSON`, ExitCode.usage);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new CliError(`${name} must be a JSON object`, ExitCode.usage);
  return parsed as Record<string, unknown>;
}
