import { createPool, createTypeParserPreset, type DatabasePool, type Interceptor, type QueryResultRow } from 'slonik';
import type { BaseEnv } from '../config/env.js';
import { platformDatabaseUri } from './connection-uri.js';

import { listenForClientErrors } from './pg-client-errors.js';
import { sql } from './sql.js';

listenForClientErrors();

export type { DatabasePool };

/**
 * Runtime validation of every `sql.type(schema)` query: a row that does not
 * match its schema is a bug we want to hear about, not data to pass on.
 */
const resultParser: Interceptor = {
  name: 'result-parser',
  transformRow: (queryContext, _query, row) => {
    const { resultParser: parser } = queryContext;
    if (!parser) return row;
    const parsed = parser.safeParse(row);
    if (!parsed.success) {
      throw new Error(`query result does not match its schema: ${parsed.error.message}`);
    }
    return parsed.data as QueryResultRow;
  },
};

/**
 * Session state (a session advisory lock, a SET without LOCAL, a temporary
 * table) can only be left behind by code that holds a connection explicitly
 * (`pool.connect`): single queries and transactions set what they need with
 * SET LOCAL or set_config(…, true), which ends with the transaction, and a
 * handler that throws has its connection destroyed. So only explicitly held
 * connections are reset (DISCARD ALL) when they go back to the pool. Slonik's
 * default resets after every query: one more round trip that every caller
 * waited for before its result came back, and work for PostgreSQL (about a
 * fifth of the statements the usage aggregator sent under single events).
 */
const resetExplicitConnections: Interceptor = {
  name: 'reset-explicit-connections',
  beforePoolConnectionRelease: async (context, connection) => {
    if (context.connectionType === 'EXPLICIT') await connection.query(sql.unsafe`DISCARD ALL`);
    return null;
  },
};

export interface PoolOptions {
  maximumPoolSize?: number;
  idleTimeout?: number;
  statementTimeout?: number;
}

export async function openPool(connectionUri: string, options: PoolOptions = {}): Promise<DatabasePool> {
  return createPool(connectionUri, {
    interceptors: [resultParser, resetExplicitConnections],
    resetConnection: async () => undefined, // see resetExplicitConnections
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
  });
}

type PoolEnv = Pick<
  BaseEnv,
  | 'DATABASE_URL'
  | 'DEEPLENS_DB_PREFIX'
  | 'DEEPLENS_PLATFORM_SERVICE_PASSWORD'
  | 'DEEPLENS_PLATFORM_POOL_SIZE'
  | 'DEEPLENS_PLATFORM_DATABASE_URL'
>;

export function openPlatformPool(env: PoolEnv, options: PoolOptions = {}): Promise<DatabasePool> {
  return openPool(platformDatabaseUri(env), { maximumPoolSize: env.DEEPLENS_PLATFORM_POOL_SIZE, ...options });
}
