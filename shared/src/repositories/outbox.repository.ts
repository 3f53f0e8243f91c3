import type { CommonQueryMethods } from 'slonik';
import { z } from 'zod';
import { sql } from '../db/sql.js';

/** The outbox table (infra/migrations/platform/0012): jobs and domain events waiting for Redis. */

export interface OutboxKey {
  kind: 'job' | 'event';
  id: string;
}

export interface OutboxEntry extends OutboxKey {
  /** The job name or the event type. */
  name: string;
  tenantId: string | null;
  /** The job payload or the event envelope. */
  body: unknown;
}

const outboxRow = z.object({
  kind: z.enum(['job', 'event']),
  id: z.string(),
  name: z.string(),
  tenant_id: z.string().nullable(),
  body: z.unknown(),
  created_at: z.number(),
});
export type OutboxRow = z.infer<typeof outboxRow>;

const BATCH = 1_000;

const unnestKeys = (keys: readonly OutboxKey[]) =>
  sql.unnest(
    keys.map((key) => [key.kind, key.id]),
    ['text', 'uuid'],
  );

export const outboxRepository = {
  /**
   * In the writer's transaction. A job recorded again (a deprovisioning asked
   * for again) is armed again, so it is published again and, like an enqueue,
   * finds the job already queued or reruns one that failed; an event recorded
   * again keeps the first, since its id names the fact.
   */
  async insert(db: CommonQueryMethods, queuePrefix: string, entries: readonly OutboxEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await db.query(sql.typeAlias('void')`
      INSERT INTO outbox (kind, id, name, tenant_id, body, queue_prefix)
      SELECT kind, id, name, tenant_id, body::jsonb, ${queuePrefix}
        FROM ${sql.unnest(
          entries.map((entry) => [entry.kind, entry.id, entry.name, entry.tenantId, JSON.stringify(entry.body)]),
          ['text', 'uuid', 'text', 'uuid', 'text'],
        )} AS e(kind, id, name, tenant_id, body)
      ON CONFLICT (kind, id) DO UPDATE
        SET body = excluded.body, created_at = now(), published_at = NULL
        WHERE outbox.kind = 'job'`);
  },

  /** These rows if still unpublished, locked for publishing; rows another publisher holds are skipped. */
  async claim(db: CommonQueryMethods, keys: readonly OutboxKey[]): Promise<readonly OutboxRow[]> {
    if (keys.length === 0) return [];
    return db.any(sql.type(outboxRow)`
      SELECT o.kind, o.id, o.name, o.tenant_id, o.body, o.created_at
        FROM outbox o JOIN ${unnestKeys(keys)} AS k(kind, id) USING (kind, id)
       WHERE o.published_at IS NULL
       ORDER BY o.created_at
         FOR UPDATE OF o SKIP LOCKED`);
  },

  /** This installation's rows left unpublished longer than the grace period (their writer died or lost Redis), oldest first. */
  async claimStranded(db: CommonQueryMethods, queuePrefix: string, graceMs: number): Promise<readonly OutboxRow[]> {
    return db.any(sql.type(outboxRow)`
      SELECT kind, id, name, tenant_id, body, created_at
        FROM outbox
       WHERE published_at IS NULL AND created_at < now() - make_interval(secs => ${graceMs / 1000})
         AND (queue_prefix = ${queuePrefix} OR queue_prefix IS NULL)
       ORDER BY created_at
       LIMIT ${BATCH}
         FOR UPDATE SKIP LOCKED`);
  },

  async markPublished(db: CommonQueryMethods, keys: readonly OutboxKey[]): Promise<void> {
    if (keys.length === 0) return;
    await db.query(sql.typeAlias('void')`
      UPDATE outbox o SET published_at = now()
        FROM ${unnestKeys(keys)} AS k(kind, id)
       WHERE o.kind = k.kind AND o.id = k.id`);
  },

  /** A job still waiting for its publication. */
  async findUnpublishedJob(db: CommonQueryMethods, id: string): Promise<OutboxRow | null> {
    return db.maybeOne(sql.type(outboxRow)`
      SELECT kind, id, name, tenant_id, body, created_at
        FROM outbox WHERE kind = 'job' AND id = ${id} AND published_at IS NULL`);
  },
};
