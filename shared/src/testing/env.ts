import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';

/** This run's tokens, key, environment and names, as the global setup chose them. */
export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';
export const TEST_SERVICE_TOKEN = 'test-service-token-0123456789abcdef';
export const TEST_ENCRYPTION_KEY = 'test-k1:test-encryption-key-0123456789';

/**
 * The environment of services under test: this run's databases, and a queue
 * prefix of its own per call, so test files running side by side never take
 * each other's jobs.
 */
export function testEnv(overrides: Record<string, string> = {}): Record<string, string> {
  const required = (name: string) => {
    const value = process.env[name];
    if (!value) throw new Error(`${name} is not set: run the tests through vitest (its global setup sets it)`);
    return value;
  };
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    DATABASE_URL: required('DATABASE_URL'),
    REDIS_URL: required('REDIS_URL'),
    DEEPLENS_DB_PREFIX: required('DEEPLENS_DB_PREFIX'),
    DEEPLENS_QUEUE_PREFIX: `${required('DEEPLENS_TEST_QUEUE_PREFIX')}-${randomBytes(3).toString('hex')}`,
    DEEPLENS_ADMIN_TOKENS: TEST_ADMIN_TOKEN,
    DEEPLENS_SERVICE_TOKENS: TEST_SERVICE_TOKEN,
    DEEPLENS_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
    DEEPLENS_JOB_LOCK_MS: '2000',
    DEEPLENS_STALLED_INTERVAL_MS: '1000',
    // Tests read their own writes: quota answers straight from Redis (the cache has its own test).
    DEEPLENS_QUOTA_CACHE_MS: '0',
    // Test files share one database prefix, so they would share one pool of spare databases:
    // each provisioning clones here, and the pool has its own test (spare-databases.e2e).
    DEEPLENS_SPARE_DATABASES: '0',
    // The storage emulators and webhook receivers of the tests listen on loopback, which the
    // egress policy refuses unless an operator allows it: tests allow it as an operator would.
    // Tests of the policy itself override this.
    DEEPLENS_EGRESS_ALLOW: '127.0.0.0/8,::1',
    DEEPLENS_NFS_ROOTS: tmpdir(),
    ...overrides,
  };
}

export const uniqueName = (base: string) => `${base}-${randomBytes(3).toString('hex')}`;
