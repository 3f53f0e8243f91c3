import { pino, type ChildLoggerOptions, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

/**
 * Paths redacted from every log line. Storage configs and auth headers are
 * the places secrets could travel through; `*` covers them at any depth we log.
 */
const redactedPaths = [
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

/**
 * A child logger made on first use. Fastify gives every request a child
 * (`{ reqId }`), and with redaction configured pino runs the redaction
 * stringifier over the bindings when it makes one: measurable per request on
 * the hot paths, where nothing is logged unless something goes wrong. The
 * proxy defers that to the first log call; a request that logs nothing never
 * pays it. Fastify checks the child has the logging methods: those answer
 * with shared functions that make the child only when called.
 */
export function lazyChild(parent: Logger, bindings: Record<string, unknown>, options?: ChildLoggerOptions): Logger {
  let child: Logger | undefined;
  const real = (): Logger =>
    (child ??= (
      options && Object.keys(options).length ? parent.child(bindings, options) : parent.child(bindings)
    ) as Logger);
  return new Proxy(parent, {
    get(_target, property) {
      if (property === REAL) return real;
      if (Object.hasOwn(DEFERRED_METHODS, property)) return DEFERRED_METHODS[property as string];
      const logger = real();
      const value = Reflect.get(logger, property, logger);
      return typeof value === 'function' ? value.bind(logger) : value;
    },
    set(_target, property, value) {
      return Reflect.set(real(), property, value);
    },
  });
}

const REAL = Symbol('lazyChild.real');
const DEFERRED_METHODS: Record<string, (this: { [REAL]: () => Logger }, ...args: unknown[]) => unknown> =
  Object.fromEntries(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent', 'child'].map((name) => [
      name,
      function (this: { [REAL]: () => Logger }, ...args: unknown[]) {
        const logger = this[REAL]() as unknown as Record<string, (...args: unknown[]) => unknown>;
        return logger[name]!(...args);
      },
    ]),
  );
