import { randomBytes } from 'node:crypto';
import {
  AppError,
  failpoint,
  platformNames,
  sql,
  withAdvisoryTryLock,
  type BaseEnv,
  type DatabasePool,
  type Logger,
  type Migration,
} from '@deeplens/shared';
import { z } from 'zod';
import {
  cloneTenantDatabase,
  databaseExistsOnServer,
  dropTenantDatabase,
  listDatabases,
  renameUnusedDatabase,
  secureTenantDatabase,
} from './tenant-database.steps.js';

type DbEnv = Pick<BaseEnv, 'DATABASE_URL' | 'DEEPLENS_DB_PREFIX'>;

export interface SpareDatabasesDeps {
  env: DbEnv;
  platformPool: DatabasePool;
  log: Logger;
  /** The template migrations this provisioner knows; a spare must be at their latest version to be claimed. */
  migrations: Migration[];
  /** How many ready spares to keep; 0 keeps none. */
  target: number;
}

const nameRow = z.object({ database_name: z.string() });

/**
 * Spare tenant databases: clones of the template made ahead of demand,
 * migrated and proven isolated (the same secureTenantDatabase every new
 * tenant database goes through), then registered as ready. A provisioning
 * claims the oldest ready spare at the current template version and renames
 * it to the tenant's name: no copy and no connection to it, so the tenant is
 * ready in the time of a rename instead of a clone. Without a ready spare
 * (a burst, a template just migrated, the pool turned off) it clones as
 * before. The pool is refilled after every provisioning that claimed a
 * spare (once it is done, so the refill's clone does not slow it) and on the
 * reconcile interval, by one provisioner at a time.
 */
export function createSpareDatabases({ env, platformPool, log, migrations, target }: SpareDatabasesDeps) {
  const names = platformNames(env.DEEPLENS_DB_PREFIX);
  const version = migrations.at(-1)?.version ?? null;
  let refilling: Promise<void> | null = null;
  let refillAgain = false;

  /**
   * Gives `database` to the tenant from a ready spare; false when none is
   * ready. A claim interrupted by a crash is finished by the retry: the row
   * remembers which tenant claimed which spare until the rename is done.
   */
  async function claim(tenantId: string, database: string): Promise<boolean> {
    if (target === 0 || version === null) return false;
    // The claim commits without waiting for its WAL flush: the rename's own commit flushes it
    // moments later, and a claim lost before that names a spare still under its own name.
    const spare = await platformPool.transaction(async (trx) => {
      await trx.query(sql.typeAlias('void')`SET LOCAL synchronous_commit TO OFF`);
      // A claim made before a deploy that moved the template on is given up: renamed, that spare would
      // skip the migrations it lacks. Without its row the next refill drops it as half-made.
      await trx.query(sql.typeAlias('void')`
        DELETE FROM spare_databases WHERE claimed_by = ${tenantId} AND template_version <> ${version}`);
      return trx.maybeOneFirst(sql.type(nameRow)`
        WITH earlier AS (SELECT database_name FROM spare_databases WHERE claimed_by = ${tenantId}),
        fresh AS (
          UPDATE spare_databases SET claimed_by = ${tenantId}
           WHERE database_name = (
             SELECT database_name FROM spare_databases
              WHERE claimed_by IS NULL AND template_version = ${version} AND NOT EXISTS (SELECT 1 FROM earlier)
              ORDER BY created_at LIMIT 1
              FOR UPDATE SKIP LOCKED)
          RETURNING database_name)
        SELECT database_name FROM earlier UNION ALL SELECT database_name FROM fresh LIMIT 1`);
    });
    if (!spare) return false;
    await failpoint('provision.after-claim');
    if ((await renameUnusedDatabase(env, spare, database)) === 'renamed') return true;
    // The spare is gone (dropped by hand): its row goes, and the caller clones.
    await platformPool.query(sql.typeAlias('void')`DELETE FROM spare_databases WHERE database_name = ${spare}`);
    return false;
  }

  /**
   * Ends the tenant's claim on a spare, if it has one, in the caller's
   * transaction: the activation (the rename is done) or the undo of a failed
   * provisioning (a renamed spare is dropped as the tenant's database; one not
   * yet renamed is left without a row, and the next refill drops it).
   */
  async function settle(tenantId: string, db: Pick<DatabasePool, 'query'>): Promise<void> {
    await db.query(sql.typeAlias('void')`DELETE FROM spare_databases WHERE claimed_by = ${tenantId}`);
  }

  /**
   * Brings the pool to `target` ready spares at the current version: drops
   * spares of another template version, spares beyond the target, and spare
   * databases that never became ready (a refill that crashed between clone
   * and registration), then clones what is missing.
   * One refill runs at a time across provisioners (an advisory lock).
   */
  async function refillOnce(): Promise<{ created: number; dropped: number }> {
    if (version === null) return { created: 0, dropped: 0 };
    const outcome = await withAdvisoryTryLock(
      platformPool,
      `deeplens.spares/${env.DEEPLENS_DB_PREFIX}`,
      async (connection) => {
        // Unclaimed spares of another template version, and those beyond the target (the setting was
        // lowered): the oldest current ones are kept.
        const stale = await connection.anyFirst(sql.type(nameRow)`
        DELETE FROM spare_databases
         WHERE claimed_by IS NULL
           AND (template_version <> ${version}
                OR database_name IN (SELECT database_name FROM spare_databases
                                      WHERE claimed_by IS NULL AND template_version = ${version}
                                      ORDER BY created_at OFFSET ${target}))
        RETURNING database_name`);
        const registered = new Set(
          await connection.anyFirst(sql.type(nameRow)`SELECT database_name FROM spare_databases`),
        );
        const unready = (await listDatabases(env, names.spareDatabasePrefix)).filter((name) => !registered.has(name));
        const doomed = [...new Set([...stale, ...unready])];
        for (const database of doomed) await dropTenantDatabase(env, database);

        const ready = await connection.oneFirst(sql.type(z.object({ n: z.number() }))`
        SELECT count(*)::int AS n FROM spare_databases WHERE claimed_by IS NULL AND template_version = ${version}`);
        let created = 0;
        for (let missing = target - ready; missing > 0; missing -= 1) {
          const database = `${names.spareDatabasePrefix}${randomBytes(8).toString('hex')}`;
          await cloneTenantDatabase(env, database);
          await secureTenantDatabase(env, database, migrations);
          await connection.query(sql.typeAlias('void')`
          INSERT INTO spare_databases (database_name, template_version) VALUES (${database}, ${version})`);
          created += 1;
        }
        return { created, dropped: doomed.length };
      },
    );
    return outcome.ran ? outcome.value : { created: 0, dropped: 0 };
  }

  return {
    settle,
    /**
     * The tenant's database, by the cheapest way there is: already there (a
     * retry), a ready spare renamed, or a clone of the template. Only a clone
     * still needs migrating and proving; a spare was both before it was ready.
     */
    async provide(tenantId: string, database: string): Promise<'existed' | 'claimed' | 'created'> {
      if (await databaseExistsOnServer(env, database)) return 'existed';
      if (await claim(tenantId, database)) return 'claimed';
      return (await cloneTenantDatabase(env, database)) === 'existed' ? 'existed' : 'created';
    },
    /**
     * Starts a refill; while one runs in this process, asks for another right after it (the pool may
     * have changed since that one counted it: a claim, a lowered target). Failures are logged and
     * retried on the next call.
     */
    refill(): Promise<void> {
      if (target === 0) return Promise.resolve();
      if (refilling) {
        refillAgain = true;
        return refilling;
      }
      refilling = (async () => {
        do {
          refillAgain = false;
          try {
            const outcome = await refillOnce();
            if (outcome.created || outcome.dropped) log.info(outcome, 'spare tenant databases refilled');
          } catch (error) {
            log.warn(
              { err: error instanceof AppError ? error.message : error },
              'refilling spare tenant databases failed; will try again',
            );
            return;
          }
        } while (refillAgain);
      })().finally(() => {
        refilling = null;
      });
      return refilling;
    },
  };
}

export type SpareDatabases = ReturnType<typeof createSpareDatabases>;
