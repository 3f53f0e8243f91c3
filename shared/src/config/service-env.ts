import { platformDatabaseUri } from '../db/connection-uri.js';
import { baseEnvSchema } from './env.js';

/**
 * Only the provisioner (and the migrator, which `npm start` runs itself)
 * hold the admin DATABASE_URL: the role that creates databases and roles.
 * Every other service gets the platform database as platform_service and
 * nothing it could use to become more, so a process that leaks its
 * environment (/proc/self/environ read through a tenant's configuration)
 * leaks no admin credentials.
 */
const ADMIN_SERVICES = new Set(['provisioner']);

/** Credentials only the admin side uses: the migrator sets these roles' passwords. */
const ADMIN_ONLY = [
  'DATABASE_URL',
  'DEEPLENS_PLATFORM_SERVICE_PASSWORD',
  'DEEPLENS_IDENTITY_SERVICE_PASSWORD',
  'DEEPLENS_TENANT_SERVICE_PASSWORD',
];

/** The environment `service` is started with: `npm start`, and the tests' startService, both use it. */
export function serviceEnvironment(service: string, env: NodeJS.ProcessEnv): Record<string, string> {
  const defined = Object.fromEntries(
    Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
  if (ADMIN_SERVICES.has(service)) return defined;
  const set = (name: string) => (defined[name] === '' ? undefined : defined[name]);
  const platformUri = platformDatabaseUri({
    DATABASE_URL: baseEnvSchema.shape.DATABASE_URL.parse(set('DATABASE_URL')),
    DEEPLENS_DB_PREFIX: baseEnvSchema.shape.DEEPLENS_DB_PREFIX.parse(set('DEEPLENS_DB_PREFIX')),
    DEEPLENS_PLATFORM_SERVICE_PASSWORD: set('DEEPLENS_PLATFORM_SERVICE_PASSWORD'),
    DEEPLENS_PLATFORM_DATABASE_URL: set('DEEPLENS_PLATFORM_DATABASE_URL'),
  });
  const kept = Object.fromEntries(Object.entries(defined).filter(([name]) => !ADMIN_ONLY.includes(name)));
  return { ...kept, DEEPLENS_PLATFORM_DATABASE_URL: platformUri };
}
