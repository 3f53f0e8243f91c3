import { sql, type DatabasePool } from '@deeplens/shared';
import { z } from 'zod';
import type { ProbeFailure, ProbeStep } from '../probes/index.js';

/**
 * What the verifier writes: the config's status (only while the config is
 * still the version that was tested: a newer config has its own job) and one
 * history row per job, which its retries update. Nothing here ever holds a
 * secret: messages come from the probe, which scrubs them.
 */

type Queryable = Pick<DatabasePool, 'query'>;

const stuckRow = z.object({ tenant_id: z.string(), version: z.number(), since: z.number() });
export type StuckVerification = z.infer<typeof stuckRow>;

export interface AttemptStart {
  jobId: string;
  tenantId: string;
  configVersion: number;
  provider: string;
  reason: string | null;
  attempt: number;
  maxAttempts: number;
}

export interface AttemptOutcome {
  jobId: string;
  tenantId: string;
  configVersion: number;
  steps: ProbeStep[];
  totalMs: number;
  error: Pick<ProbeFailure, 'code' | 'message'> | null;
}

const stepsJson = (steps: ProbeStep[]) => sql.jsonb(steps.map(({ step, ms, ok }) => ({ step, ms, ok })));
const errorJson = (error: AttemptOutcome['error']) =>
  error ? sql.jsonb({ code: error.code, message: error.message }) : null;

export const verificationsRepository = {
  /**
   * Configs `verifying` for longer than `olderThanSeconds` whose tenant is
   * still served, oldest first, at most 100: `since` is when (ms) they became
   * `verifying`.
   */
  async stuck(db: Pick<DatabasePool, 'any'>, olderThanSeconds: number): Promise<readonly StuckVerification[]> {
    return db.any(sql.type(stuckRow)`
      SELECT c.tenant_id, c.version, (extract(epoch FROM c.updated_at) * 1000)::bigint AS since
        FROM tenant_storage_configs c JOIN tenants t ON t.id = c.tenant_id
       WHERE c.status = 'verifying'
         AND c.updated_at < now() - make_interval(secs => ${olderThanSeconds})
         AND t.status NOT IN ('deprovisioning', 'deleted', 'failed')
       ORDER BY c.updated_at
       LIMIT 100`);
  },

  /** Marks the config `verifying` and opens (or, on a retry, reopens) the job's history row. */
  async startAttempt(db: Queryable, start: AttemptStart): Promise<void> {
    await db.query(sql.typeAlias('void')`
      UPDATE tenant_storage_configs SET status = 'verifying', updated_at = now()
       WHERE tenant_id = ${start.tenantId} AND version = ${start.configVersion}`);
    await db.query(sql.typeAlias('void')`
      INSERT INTO storage_verifications (tenant_id, job_id, config_version, provider, reason, status, attempts, max_attempts)
      VALUES (${start.tenantId}, ${start.jobId}, ${start.configVersion}, ${start.provider}, ${start.reason},
              'verifying', ${start.attempt}, ${start.maxAttempts})
      ON CONFLICT (job_id) DO UPDATE SET status = 'verifying', attempts = excluded.attempts,
        max_attempts = excluded.max_attempts, finished_at = NULL`);
  },

  /** A failed attempt that will be retried: the history shows why; the config stays `verifying`. */
  async recordRetry(db: Queryable, outcome: AttemptOutcome): Promise<void> {
    await db.query(sql.typeAlias('void')`
      UPDATE storage_verifications
         SET error_code = ${outcome.error?.code ?? null}, error_message = ${outcome.error?.message ?? null},
             steps = ${stepsJson(outcome.steps)}, total_ms = ${outcome.totalMs}
       WHERE job_id = ${outcome.jobId}`);
  },

  /**
   * The final word of a job: `verified`, or `failed` with the error. The config
   * takes it only if it is still the version tested; returns whether it did.
   */
  async finish(db: Queryable, outcome: AttemptOutcome): Promise<boolean> {
    const status = outcome.error ? 'failed' : 'verified';
    await db.query(sql.typeAlias('void')`
      UPDATE storage_verifications
         SET status = ${status}, error_code = ${outcome.error?.code ?? null},
             error_message = ${outcome.error?.message ?? null}, steps = ${stepsJson(outcome.steps)},
             total_ms = ${outcome.totalMs}, finished_at = now()
       WHERE job_id = ${outcome.jobId}`);
    const updated = await db.query(sql.typeAlias('void')`
      UPDATE tenant_storage_configs
         SET status = ${status}, last_tested_at = now(), last_error = ${errorJson(outcome.error)}, updated_at = now()
       WHERE tenant_id = ${outcome.tenantId} AND version = ${outcome.configVersion}`);
    return updated.rowCount > 0;
  },

  /**
   * The job could not run the probe at all (an operator's problem, such as a
   * key missing from the keyring): the config is not known to be good or bad.
   */
  async abandon(db: Queryable, jobId: string, tenantId: string, configVersion: number): Promise<void> {
    await db.query(sql.typeAlias('void')`
      UPDATE storage_verifications
         SET status = 'failed', error_code = 'internal_error',
             error_message = 'the verification could not run; the operators have the details', finished_at = now()
       WHERE job_id = ${jobId} AND status = 'verifying'`);
    await db.query(sql.typeAlias('void')`
      UPDATE tenant_storage_configs SET status = 'unverified', updated_at = now()
       WHERE tenant_id = ${tenantId} AND version = ${configVersion} AND status = 'verifying'`);
  },
};
