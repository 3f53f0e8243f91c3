import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

/**
 * Plain, numbered SQL migrations from `infra/migrations/<target>/NNNN_name.sql`,
 * each applied in its own transaction and recorded in the database it changed.
 * SQL refers to the installation's role names through settings
 * (`current_setting('deeplens.tenant_role')`), so one file serves every prefix.
 */

export type MigrationTarget = 'platform' | 'identity' | 'template';

export interface Migration {
  version: string;
  name: string;
  sql: string;
  checksum: string;
}

const MIGRATION_FILE = /^(\d{4})_([a-z0-9_]+)\.sql$/;

export function migrationsRoot(): string {
  if (process.env.DEEPLENS_MIGRATIONS_DIR) return resolve(process.env.DEEPLENS_MIGRATIONS_DIR);
  // shared/{src,dist}/db → repository root → infra/migrations
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../../infra/migrations');
}

export function loadMigrations(target: MigrationTarget, root = migrationsRoot()): Migration[] {
  const dir = join(root, target);
  return readdirSync(dir)
    .filter((file) => file.endsWith('.sql'))
    .sort()
    .map((file) => {
      const match = MIGRATION_FILE.exec(file);
      if (!match) throw new Error(`migration file ${dir}/${file} is not named NNNN_snake_case.sql`);
      const sqlText = readFileSync(join(dir, file), 'utf8');
      return {
        version: match[1]!,
        name: match[2]!,
        sql: sqlText,
        checksum: createHash('sha256').update(sqlText).digest('hex'),
      };
    });
}

class MigrationError extends Error {
  constructor(
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'MigrationError';
  }
}

const LEDGER = 'deeplens_schema_migrations';

/**
 * Applies what is missing, in order, on one open connection. Safe to run
 * twice and from two processes at once: a session advisory lock in that
 * database serialises appliers, and applied versions are re-read under it.
 * A changed file whose version was already applied is an error, never
 * silently skipped.
 */
export async function applyMigrations(
  client: pg.Client,
  migrations: Migration[],
  settings: Record<string, string>,
): Promise<string[]> {
  await client.query(`SELECT pg_advisory_lock(hashtext('deeplens.migrations'))`);
  try {
    await client.query(`CREATE TABLE IF NOT EXISTS ${LEDGER} (
      version text PRIMARY KEY,
      name text NOT NULL,
      checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const { rows } = await client.query<{ version: string; checksum: string }>(
      `SELECT version, checksum FROM ${LEDGER}`,
    );
    const applied = new Map(rows.map((row) => [row.version, row.checksum]));
    const done: string[] = [];
    for (const migration of migrations) {
      const checksum = applied.get(migration.version);
      if (checksum !== undefined) {
        if (checksum !== migration.checksum) {
          throw new MigrationError(
            `migration ${migration.version}_${migration.name} was changed after it was applied; add a new migration instead`,
          );
        }
        continue;
      }
      await client.query('BEGIN');
      try {
        for (const [key, value] of Object.entries(settings)) {
          await client.query('SELECT set_config($1, $2, true)', [key, value]);
        }
        await client.query(migration.sql);
        await client.query(`INSERT INTO ${LEDGER} (version, name, checksum) VALUES ($1, $2, $3)`, [
          migration.version,
          migration.name,
          migration.checksum,
        ]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw new MigrationError(
          `migration ${migration.version}_${migration.name} failed: ${(error as Error).message}`,
          error,
        );
      }
      done.push(`${migration.version}_${migration.name}`);
    }
    return done;
  } finally {
    await client.query(`SELECT pg_advisory_unlock(hashtext('deeplens.migrations'))`).catch(() => undefined);
  }
}

/** Opens a plain pg client, runs `work`, always closes it. */
export async function withClient<T>(connectionUri: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: connectionUri, application_name: 'deeplens-migrate' });
  client.on('error', () => undefined); // a dropped connection surfaces as the failing query's error
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}
