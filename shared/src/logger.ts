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
  // A storage config one level deeper (a request body's storage), and decrypted secrets by name.
  '*.*.config.*',
  'secrets',
  '*.secrets',
  // Slonik errors carry a query's bind values and a rejected row: keys and decrypted secrets travel there.
  'err.values',
  'err.row',
  'err.cause.values',
  '*.err.values',
  '*.err.row',
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
