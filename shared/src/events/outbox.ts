import type { Redis } from 'ioredis';
import type { CommonQueryMethods } from 'slonik';
import { v5 as uuidv5 } from 'uuid';
import { z } from 'zod';
import type { DatabasePool } from '../db/pool.js';
import { sql } from '../db/sql.js';
import { DEFAULT_STREAM_MAX_LENGTH, domainEvent, publishDomainEvents, type DomainEvent, type DomainEventType } from './domain-events.js';

/**
 * The outbox of domain events (infra/migrations/platform/0005): a publisher
 * records the event in the transaction that commits the fact, and after the
 * commit puts it on the stream and marks it published. Event ids are derived
 * from the fact (uuid v5), so a retried job records the same event once and
 * consumers can de-duplicate what a crash publishes twice.
 */

const EVENT_ID_NAMESPACE = '6f1d3c2a-9b7e-4e8f-a1d2-3c4b5a697887';

/** The stable id of the event `type` about `parts` (a tenant id, a job id…). */
export const domainEventId = (type: DomainEventType, ...parts: string[]) => uuidv5([type, ...parts].join('/'), EVENT_ID_NAMESPACE);

/** Builds an event whose id is derived from its type and `parts`, dated now. */
export function factEvent<T extends DomainEventType>(
  type: T,
  parts: string[],
  tenantId: string | null,
  data: DomainEvent<T>['data'],
): DomainEvent<T> {
  return domainEvent(type, { id: domainEventId(type, ...parts), occurredAt: new Date().toISOString(), tenantId, data });
}

/** Inside the transaction of the fact. Recording the same event again keeps the first. */
export async function recordDomainEvent(db: CommonQueryMethods, event: DomainEvent): Promise<void> {
  await db.query(sql.typeAlias('void')`
    INSERT INTO domain_event_outbox (id, type, tenant_id, event)
    VALUES (${event.id}, ${event.type}, ${event.tenantId}, ${sql.jsonb(event as never)})
    ON CONFLICT (id) DO NOTHING`);
}

export interface OutboxTarget {
  redis: Redis;
  queuePrefix: string;
  streamMaxLength?: number;
}

const outboxRow = z.object({ id: z.string(), event: z.record(z.unknown()) });

async function publishRows(db: CommonQueryMethods, target: OutboxTarget, rows: ReadonlyArray<z.infer<typeof outboxRow>>) {
  if (rows.length === 0) return 0;
  await publishDomainEvents(target.redis, target.queuePrefix, rows.map((row) => row.event as DomainEvent), {
    maxLength: target.streamMaxLength ?? DEFAULT_STREAM_MAX_LENGTH,
  });
  await db.query(sql.typeAlias('void')`
    UPDATE domain_event_outbox SET published_at = now() WHERE id = ANY(${sql.array(rows.map((row) => row.id), 'uuid')})`);
  return rows.length;
}

/**
 * After the commit: publishes these events if still unpublished. A crash in
 * between leaves them to `publishStrandedEvents`; a failure here is reported
 * to the caller, who should log it rather than fail the committed work.
 */
export async function publishRecordedEvents(pool: DatabasePool, target: OutboxTarget, ids: readonly string[]): Promise<number> {
  if (ids.length === 0) return 0;
  return pool.transaction(async (trx) => {
    const rows = await trx.any(sql.type(outboxRow)`
      SELECT id, event FROM domain_event_outbox
       WHERE id = ANY(${sql.array([...ids], 'uuid')}) AND published_at IS NULL
       ORDER BY created_at
       FOR UPDATE SKIP LOCKED`);
    return publishRows(trx, target, rows);
  });
}

/** Events whose publisher died between commit and stream, older than the grace period. SKIP LOCKED lets replicas share the work. */
export async function publishStrandedEvents(pool: DatabasePool, target: OutboxTarget, graceMs: number): Promise<number> {
  return pool.transaction(async (trx) => {
    const rows = await trx.any(sql.type(outboxRow)`
      SELECT id, event FROM domain_event_outbox
       WHERE published_at IS NULL AND created_at < now() - make_interval(secs => ${graceMs / 1000})
       ORDER BY created_at
       LIMIT 1000
       FOR UPDATE SKIP LOCKED`);
    return publishRows(trx, target, rows);
  });
}
