import { z } from 'zod';

/**
 * The environment of every DeepLens process, parsed once at boot.
 * Every variable is optional on a developer machine; defaults live here and
 * nowhere else. Services extend `baseEnvSchema` with their own variables.
 */

const csv = z
  .string()
  .optional()
  .transform((value) =>
    (value ?? '')
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item.length > 0),
  );

const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

export const baseEnvSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: z
    .string()
    .url()
    .default('postgres://postgres@127.0.0.1:5432/postgres'),
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  DEEPLENS_DB_PREFIX: z
    .string()
    .regex(/^([a-z][a-z0-9_]{0,19})?$/, 'lowercase letters, digits and _, at most 20, starting with a letter')
    .default(''),
  DEEPLENS_QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,40}$/, 'letters, digits, _ . -, at most 40')
    .default('deeplens'),
  /** Passwords of the two least-privilege roles; where unset the roles log in without one (trust auth). */
  DEEPLENS_PLATFORM_SERVICE_PASSWORD: z.string().min(8).optional(),
  DEEPLENS_TENANT_SERVICE_PASSWORD: z.string().min(8).optional(),
  /** Connections the platform may hold to all tenant databases together. */
  DEEPLENS_TENANT_POOL_MAX_CONNECTIONS: positiveInt(20),
  DEEPLENS_TENANT_POOL_IDLE_MS: positiveInt(30_000),
  DEEPLENS_PLATFORM_POOL_SIZE: positiveInt(10),
  /** Port of a worker's /metrics and /healthz endpoint; 0 picks a free one. */
  METRICS_PORT: port(0),
  METRICS_HOST: z.string().default('127.0.0.1'),
  /** BullMQ lock and stall settings: short in tests so a killed worker's job is picked up quickly. */
  DEEPLENS_JOB_LOCK_MS: positiveInt(30_000),
  DEEPLENS_STALLED_INTERVAL_MS: positiveInt(30_000),
  DEEPLENS_WORKER_CONCURRENCY: positiveInt(4),
  /** Fault injection for crash tests; ignored unless NODE_ENV=test. */
  DEEPLENS_FAILPOINTS: csv,
});

export type BaseEnv = z.infer<typeof baseEnvSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment against a schema, reporting every bad variable at once. */
export function parseEnv<T extends z.ZodTypeAny>(
  schema: T,
  env: NodeJS.ProcessEnv = process.env,
): Readonly<z.infer<T>> {
  // Empty strings mean "unset", as in most twelve-factor tooling.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => `${issue.path.join('.') || '(environment)'}: ${issue.message}`),
    );
  }
  return Object.freeze(parsed.data);
}

export { csv as csvList, port as portVar, positiveInt };
