import { Value } from '@sinclair/typebox/value';
import { z } from 'zod';
import { EgressPolicy } from '../egress/egress-policy.js';
import { DEVELOPMENT_ENCRYPTION_KEY, parseKeyring, type Keyring } from '../crypto/keyring.js';
import { minioConfig, type StorageConfigOf } from '../schemas/storage.js';

/**
 * The environment of every DeepLens process, parsed once at boot. Defaults
 * live here and nowhere else. Services extend `baseEnvSchema` with their own
 * variables. A process is in production unless NODE_ENV=development says
 * otherwise, so a forgotten variable fails closed: the public development
 * token and key are never in force by accident (`npm start` sets development
 * explicitly, and says so).
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
  NODE_ENV: z.enum(['development', 'production', 'test']).default('production'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: z.string().url().default('postgres://postgres@127.0.0.1:5432/postgres'),
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  DEEPLENS_DB_PREFIX: z
    .string()
    .regex(/^([a-z][a-z0-9_]{0,19})?$/, 'lowercase letters, digits and _, at most 20, starting with a letter')
    .default(''),
  DEEPLENS_QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,40}$/, 'letters, digits, _ . -, at most 40')
    .default('deeplens'),
  /** Passwords of the least-privilege login roles; where unset the roles log in without one (trust auth). */
  DEEPLENS_PLATFORM_SERVICE_PASSWORD: z.string().min(8).optional(),
  DEEPLENS_IDENTITY_SERVICE_PASSWORD: z.string().min(8).optional(),
  /** Ignored: tenant_service is a NOLOGIN group now; each tenant database has a login role of its own. */
  DEEPLENS_TENANT_SERVICE_PASSWORD: z.string().min(8).optional(),
  /**
   * The platform database as platform_service: what the API, the storage verifier, the event
   * dispatcher and the usage aggregator are given instead of DATABASE_URL. Unset, it is derived
   * from DATABASE_URL (`npm start` derives it and passes only it to those services).
   */
  DEEPLENS_PLATFORM_DATABASE_URL: z.string().url().optional(),
  /** Where the aggregator reaches tenant databases; unset, the platform database's host and port. */
  DEEPLENS_TENANT_DB_HOST: z.string().min(1).optional(),
  DEEPLENS_TENANT_DB_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  DEEPLENS_PLATFORM_POOL_SIZE: positiveInt(10),
  /** `key` or a keyring `id:key,id:key` (the first encrypts); required outside development. */
  DEEPLENS_ENCRYPTION_KEY: z
    .string()
    .optional()
    .superRefine((value, context) => {
      if (value === undefined) return;
      try {
        parseKeyring(value);
      } catch (error) {
        context.addIssue({ code: 'custom', message: (error as Error).message });
      }
    }),
  /** JSON of the platform's MinIO: endpoint, access_key, secret_key, bucket (secure, region optional). */
  DEEPLENS_DEFAULT_STORAGE: z
    .string()
    .optional()
    .transform((value, context): StorageConfigOf<'minio'> | undefined => {
      if (value === undefined) return undefined;
      let parsed: unknown;
      try {
        parsed = JSON.parse(value);
      } catch {
        context.addIssue({ code: 'custom', message: 'must be JSON' });
        return z.NEVER;
      }
      const firstError = Value.Errors(minioConfig, parsed).First();
      if (firstError) {
        context.addIssue({ code: 'custom', message: `${firstError.path || '/'} ${firstError.message}` });
        return z.NEVER;
      }
      return parsed as StorageConfigOf<'minio'>;
    }),
  /** Fault injection for crash tests; ignored unless NODE_ENV=test. */
  DEEPLENS_FAILPOINTS: csv,
  /**
   * storage.verify's retry policy, set on each job by whoever enqueues it: attempts
   * (the first included) and the base delay of its jittered exponential backoff.
   */
  DEEPLENS_STORAGE_VERIFY_ATTEMPTS: positiveInt(4),
  DEEPLENS_STORAGE_VERIFY_BACKOFF_MS: positiveInt(2_000),
  /** Where pg_dump and pg_restore live; unset searches /usr/lib/postgresql/<newest>/bin, then PATH. */
  DEEPLENS_PG_BIN_DIR: z.string().optional(),
  /** webhook.deliver: attempts (the first included) and the base delay of the jittered exponential backoff. */
  DEEPLENS_WEBHOOK_ATTEMPTS: positiveInt(8),
  DEEPLENS_WEBHOOK_BACKOFF_MS: positiveInt(2_000),
  /**
   * Private addresses tenants' endpoints may reach (an operator's on-premises MinIO):
   * comma separated host:port, ip:port, cidr or cidr:port. Everything else private is refused.
   */
  DEEPLENS_EGRESS_ALLOW: csv.superRefine((entries, context) => {
    const problem = EgressPolicy.validateAllowList(entries);
    if (problem) context.addIssue({ code: 'custom', message: problem });
  }),
  /** Folders NFS mount paths must lie in (comma separated absolute paths); none means NFS is refused outside development. */
  DEEPLENS_NFS_ROOTS: csv.superRefine((entries, context) => {
    for (const entry of entries)
      if (!entry.startsWith('/')) context.addIssue({ code: 'custom', message: `"${entry}" is not an absolute path` });
  }),
});

export type BaseEnv = z.infer<typeof baseEnvSchema>;

/** What every worker process (runWorkerService) reads beyond the base; each worker's schema extends this. */
export const workerEnvSchema = baseEnvSchema.extend({
  /** Port of a worker's /metrics and /healthz endpoint; 0 picks a free one. */
  METRICS_PORT: port(0),
  METRICS_HOST: z.string().default('127.0.0.1'),
  /** BullMQ lock and stall settings: short in tests so a killed worker's job is picked up quickly. */
  DEEPLENS_JOB_LOCK_MS: positiveInt(30_000),
  DEEPLENS_STALLED_INTERVAL_MS: positiveInt(30_000),
  DEEPLENS_WORKER_CONCURRENCY: positiveInt(4),
  /**
   * The worker process's scheduling niceness, 0 (normal) to 19 (only idle CPU).
   * Work a caller waits for runs at 0; the usage aggregator, whose work is
   * deferred by design, defaults to 10 so that on a shared machine the API's
   * intake goes first and the backlog is worked off in larger, cheaper groups.
   */
  DEEPLENS_CPU_NICENESS: z.coerce.number().int().min(0).max(19).default(0),
});

export type WorkerEnv = z.infer<typeof workerEnvSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Development only: a fixed, publicly known admin token the API accepts when none is configured. */
export const DEVELOPMENT_ADMIN_TOKEN = 'deeplens-dev-admin-token';

/**
 * Parses the environment against a schema, reporting every bad variable at
 * once. `holdsSecrets: false` is for processes that never read a storage
 * secret (migrations, the platform backup): they need no encryption key, so
 * an operator need not hand it to them.
 */
export function parseEnv<T extends z.ZodTypeAny>(
  schema: T,
  env: NodeJS.ProcessEnv = process.env,
  rules: Array<(parsed: z.infer<T>) => string | null> = [],
  { holdsSecrets = true }: { holdsSecrets?: boolean } = {},
): Readonly<z.infer<T>> {
  // Empty strings mean "unset", as in most twelve-factor tooling.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => `${issue.path.join('.') || '(environment)'}: ${issue.message}`),
    );
  }
  const problems = [...(holdsSecrets ? [requireEncryptionKey] : []), ...rules]
    .map((rule) => rule(parsed.data))
    .filter((problem): problem is string => problem !== null);
  if (problems.length) throw new ConfigError(problems);
  return Object.freeze(parsed.data);
}

/**
 * For a process's entry point: the parsed environment, or a message naming
 * every bad variable on stderr and exit 78 (EX_CONFIG).
 */
export function parseEnvOrExit<T>(processName: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${processName}: ${error.message}\n`);
    process.exit(78);
  }
}

function requireEncryptionKey(env: Partial<BaseEnv>): string | null {
  if (env.DEEPLENS_ENCRYPTION_KEY || env.NODE_ENV === 'development') return null;
  return 'DEEPLENS_ENCRYPTION_KEY: required unless NODE_ENV=development';
}

/** The keyring in force: the configured one, or in development a fixed, publicly known key. */
export function keyringFromEnv(env: Pick<BaseEnv, 'DEEPLENS_ENCRYPTION_KEY' | 'NODE_ENV'>): Keyring {
  if (env.DEEPLENS_ENCRYPTION_KEY) return parseKeyring(env.DEEPLENS_ENCRYPTION_KEY);
  if (env.NODE_ENV === 'development') return parseKeyring(DEVELOPMENT_ENCRYPTION_KEY);
  throw new ConfigError(['DEEPLENS_ENCRYPTION_KEY: required unless NODE_ENV=development']);
}

export { csv as csvList, port as portVar, positiveInt };
