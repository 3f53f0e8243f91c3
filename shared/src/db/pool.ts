import { createPool, createTypeParserPreset, type DatabasePool, type Interceptor, type QueryResultRow } from 'slonik';
import type { BaseEnv } from '../config/env.js';
import { withCredentials, withDatabase } from './connection-uri.js';
import { platformNames } from './names.js';

export type { DatabasePool };

/**
 * Runtime validation of every `sql.type(schema)` query: a row that does not
 * match its schema is a bug we want to hear about, not data to pass on.
 */
const resultParser: Interceptor = {
  name: 'result-parser',
  transformRow: (queryContext, query, row) => {
    const { resultParser: parser } = queryContext;
    if (!parser) return row;
    const parsed = parser.safeParse(row);
    if (!parsed.success) {
      throw new Error(`query result does not match its schema: ${parsed.error.message}`);
    }
    return parsed.data as QueryResultRow;
  },
};

export interface PoolOptions {
  maximumPoolSize?: number;
  idleTimeout?: number;
  statementTimeout?: number;
}

export async function openPool(connectionUri: string, options: PoolOptions = {}): Promise<DatabasePool> {
  return createPool(connectionUri, {
    interceptors: [resultParser],
    maximumPoolSize: options.maximumPoolSize ?? 10,
    idleTimeout: options.idleTimeout ?? 10_000,
    statementTimeout: options.statementTimeout ?? 60_000,
    connectionTimeout: 5_000,
    captureStackTrace: false,
    // Counts and byte sizes as numbers, not BigInt: they stay far below 2^53 and serialise to JSON.
    typeParsers: [
      ...createTypeParserPreset().filter((parser) => parser.name !== 'int8'),
      { name: 'int8', parse: (value: string) => Number(value) },
    ],
    // Slonik runs DISCARD ALL when a connection goes back to the pool, so a
    // session-level tenant context cannot leak to the next user; we rely on it.
  });
}

type PoolEnv = Pick<
  BaseEnv,
  'DATABASE_URL' | 'DEEPLENS_DB_PREFIX' | 'DEEPLENS_PLATFORM_SERVICE_PASSWORD' | 'DEEPLENS_PLATFORM_POOL_SIZE'
>;

/** The platform database as the least-privilege `platform_service` role. */
export function platformDatabaseUri(env: PoolEnv): string {
  const names = platformNames(env.DEEPLENS_DB_PREFIX);
  return withCredentials(
    withDatabase(env.DATABASE_URL, names.platformDatabase),
    names.platformRole,
    env.DEEPLENS_PLATFORM_SERVICE_PASSWORD,
  );
}

export function openPlatformPool(env: PoolEnv, options: PoolOptions = {}): Promise<DatabasePool> {
  return openPool(platformDatabaseUri(env), { maximumPoolSize: env.DEEPLENS_PLATFORM_POOL_SIZE, ...options });
}

/** The role of DATABASE_URL, which may create databases and roles: the provisioner and migrations only. */
export function openAdminPool(env: Pick<BaseEnv, 'DATABASE_URL'>, database?: string, options: PoolOptions = {}) {
  const uri = database ? withDatabase(env.DATABASE_URL, database) : env.DATABASE_URL;
  return openPool(uri, { maximumPoolSize: 4, ...options });
}
