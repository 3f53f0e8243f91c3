import type { DatabasePool } from 'slonik';
import { sql } from '../db/sql.js';
import { z } from 'zod';
import type { JobView } from '../queues/job-view.js';

const jobRecordRow = z.object({
  id: z.string(),
  type: z.string(),
  tenant_id: z.string().nullable(),
  state: z.string(),
  attempts: z.number(),
  max_attempts: z.number(),
  progress: z.unknown(),
  result: z.unknown(),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  created_at: z.number(),
  started_at: z.number().nullable(),
  finished_at: z.number().nullable(),
});

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The archive of finished jobs in the platform database, read once Redis has let a job go. */
export function createJobRecordsRepository(pool: DatabasePool) {
  return {
    /** Archives finished jobs in one statement; the latest view of a job wins. */
    async saveMany(views: readonly JobView[]): Promise<void> {
      const latest = [...new Map(views.map((view) => [view.id, view])).values()];
      if (latest.length === 0) return;
      const json = (value: unknown) => (value === null || value === undefined ? null : JSON.stringify(value));
      await pool.query(sql.typeAlias('void')`
        INSERT INTO job_records (id, type, tenant_id, state, attempts, max_attempts, progress, result, error,
                                 created_at, started_at, finished_at)
        SELECT * FROM ${sql.unnest(
          latest.map((view) => [
            view.id,
            view.type,
            view.tenantId,
            view.state,
            view.attempts,
            view.maxAttempts,
            json(view.progress),
            json(view.result),
            json(view.error),
            view.createdAt,
            view.startedAt,
            view.finishedAt,
          ]),
          [
            'uuid',
            'text',
            'uuid',
            'text',
            'int4',
            'int4',
            'jsonb',
            'jsonb',
            'jsonb',
            'timestamptz',
            'timestamptz',
            'timestamptz',
          ],
        )}
        ON CONFLICT (id) DO UPDATE SET
          state = excluded.state, attempts = excluded.attempts, progress = excluded.progress,
          result = excluded.result, error = excluded.error, started_at = excluded.started_at,
          finished_at = excluded.finished_at`);
    },

    async find(id: string): Promise<JobView | null> {
      const row = await pool.maybeOne(sql.type(jobRecordRow)`
        SELECT id, type, tenant_id, state, attempts, max_attempts, progress, result, error,
               created_at, started_at, finished_at
          FROM job_records WHERE id = ${id}`);
      if (!row) return null;
      return {
        id: row.id,
        type: row.type,
        tenantId: row.tenant_id,
        state: row.state as JobView['state'],
        attempts: row.attempts,
        maxAttempts: row.max_attempts,
        progress: row.progress ?? null,
        result: row.result ?? null,
        error: row.error,
        createdAt: iso(row.created_at)!,
        startedAt: iso(row.started_at),
        finishedAt: iso(row.finished_at),
      };
    },
  };
}

export type JobRecordsRepository = ReturnType<typeof createJobRecordsRepository>;
