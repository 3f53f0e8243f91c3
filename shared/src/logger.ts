import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

/**
 * Paths redacted from every log line. Storage configs and auth headers are
 * the places secrets could travel through; `*` covers them at any depth we log.
 */
export const redactedPaths = [
  'req.headers.authorization',
  'headers.authorization',
  'authorization',
  'token',
  '*.token',
  'password',
  '*.password',
  'secret_key',
  '*.secret_key',
  '*.*.secret_key',
  'access_key',
  '*.access_key',
  '*.*.access_key',
  'connection_string',
  '*.connection_string',
  '*.*.connection_string',
  'service_account_key',
  '*.service_account_key',
  '*.*.service_account_key',
  '*.password',
  '*.*.password',
  'config.*',
  '*.config.*',
  'encryptionKey',
  '*.encryptionKey',
];

export function createLogger(options: { name: string; level: string; destination?: DestinationStream }): Logger {
  const loggerOptions: LoggerOptions = {
    name: options.name,
    level: options.level,
    redact: { paths: redactedPaths, censor: '********' },
    base: { service: options.name },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  return options.destination ? pino(loggerOptions, options.destination) : pino(loggerOptions);
}

export type { Logger };
