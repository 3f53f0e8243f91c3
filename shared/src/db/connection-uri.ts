import { platformNames } from './names.js';

/** Connection strings for the platform's databases, built from DATABASE_URL or the platform URL. */
export function withDatabase(connectionUri: string, database: string): string {
  const url = new URL(connectionUri);
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.toString();
}

export function withCredentials(connectionUri: string, user: string, password: string | undefined): string {
  const url = new URL(connectionUri);
  url.username = encodeURIComponent(user);
  url.password = password ? encodeURIComponent(password) : '';
  return url.toString();
}

export interface PlatformUriEnv {
  DATABASE_URL: string;
  DEEPLENS_DB_PREFIX: string;
  DEEPLENS_PLATFORM_SERVICE_PASSWORD?: string | undefined;
  DEEPLENS_PLATFORM_DATABASE_URL?: string | undefined;
}

/**
 * The platform database as the least-privilege `platform_service` role:
 * DEEPLENS_PLATFORM_DATABASE_URL where given (services other than the
 * provisioner are given only that), else derived from DATABASE_URL.
 */
export function platformDatabaseUri(env: PlatformUriEnv): string {
  if (env.DEEPLENS_PLATFORM_DATABASE_URL) return env.DEEPLENS_PLATFORM_DATABASE_URL;
  const names = platformNames(env.DEEPLENS_DB_PREFIX);
  return withCredentials(
    withDatabase(env.DATABASE_URL, names.platformDatabase),
    names.platformRole,
    env.DEEPLENS_PLATFORM_SERVICE_PASSWORD,
  );
}

/**
 * The server of the tenant databases, without credentials: each tenant
 * database is opened with its own tenant's login role. Host and port are
 * the platform database's unless DEEPLENS_TENANT_DB_HOST/PORT say otherwise;
 * other parameters (sslmode…) are kept.
 */
export function tenantDatabaseServerUri(
  env: PlatformUriEnv & { DEEPLENS_TENANT_DB_HOST?: string | undefined; DEEPLENS_TENANT_DB_PORT?: number | undefined },
): string {
  const url = new URL(platformDatabaseUri(env));
  url.username = '';
  url.password = '';
  if (env.DEEPLENS_TENANT_DB_HOST) url.hostname = env.DEEPLENS_TENANT_DB_HOST;
  if (env.DEEPLENS_TENANT_DB_PORT) url.port = String(env.DEEPLENS_TENANT_DB_PORT);
  return url.toString();
}
