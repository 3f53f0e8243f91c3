import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { CommonQueryMethods } from 'slonik';
import { z } from 'zod';
import type { Keyring } from '../crypto/keyring.js';
import type { SealedStore } from '../crypto/rotate-keys.js';
import { openStoredSecret, sealForStorage } from '../crypto/stored-secret.js';
import { sql } from '../db/sql.js';

/**
 * Webhooks: subscribers, their signing secrets (sealed in the application for
 * [subscriber id, 'webhook'], as storage configs are; legacy pgcrypto rows
 * opened in the application until `keys rotate`), the signature, and the
 * delivery log. Shared by the API (subscribers) and the event dispatcher.
 */

export const SIGNATURE_HEADER = 'DeepLens-Signature';
export const EVENT_ID_HEADER = 'DeepLens-Event-Id';
export const EVENT_TYPE_HEADER = 'DeepLens-Event-Type';
/** How old a signed timestamp a receiver should accept, by default. */
const DEFAULT_SIGNATURE_TOLERANCE_SECONDS = 300;

export const newWebhookSecret = () => `whsec_${randomBytes(32).toString('base64url')}`;

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, as Stripe signs. */
export function signWebhook(secret: string, body: string, timestamp = Math.floor(Date.now() / 1000)): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
  return `t=${timestamp},v1=${mac}`;
}

/**
 * What a receiver does: recompute the MAC over the timestamp and the raw body,
 * compare in constant time, and refuse timestamps older (or newer) than the
 * tolerance, so a captured request cannot be replayed later.
 */
export function verifyWebhookSignature(
  secret: string,
  body: string,
  header: string | undefined,
  { toleranceSeconds = DEFAULT_SIGNATURE_TOLERANCE_SECONDS, now = Math.floor(Date.now() / 1000) } = {},
): { ok: true } | { ok: false; reason: 'missing' | 'malformed' | 'mismatch' | 'expired' } {
  if (!header) return { ok: false, reason: 'missing' };
  const parts = Object.fromEntries(header.split(',').map((part) => part.trim().split('=', 2) as [string, string]));
  const timestamp = Number(parts.t);
  if (!Number.isInteger(timestamp) || !parts.v1 || !/^[0-9a-f]{64}$/.test(parts.v1))
    return { ok: false, reason: 'malformed' };
  const expected = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest();
  if (!timingSafeEqual(expected, Buffer.from(parts.v1, 'hex'))) return { ok: false, reason: 'mismatch' };
  if (Math.abs(now - timestamp) > toleranceSeconds) return { ok: false, reason: 'expired' };
  return { ok: true };
}

const subscriberRow = z.object({
  id: z.string(),
  url: z.string(),
  description: z.string().nullable(),
  event_types: z.array(z.string()),
  active: z.boolean(),
  created_at: z.number(),
});
export type WebhookSubscriberRow = z.infer<typeof subscriberRow>;

export function webhookSubscriberView(row: WebhookSubscriberRow) {
  return {
    id: row.id,
    url: row.url,
    description: row.description,
    eventTypes: row.event_types,
    active: row.active,
    createdAt: new Date(row.created_at).toISOString(),
  };
}

const webhookContext = (id: string) => [id, 'webhook'];
const secretRow = z.object({
  id: z.string(),
  key_id: z.string().nullable(),
  sealed_secret: z.string().nullable(),
  secret: z.instanceof(Buffer).nullable(),
});
const openSecret = (keyring: Keyring, row: z.infer<typeof secretRow>) =>
  openStoredSecret(
    keyring,
    { sealed: row.sealed_secret, legacy: row.secret, keyId: row.key_id },
    webhookContext(row.id),
  );

export const webhookSubscribersRepository = {
  async create(
    db: CommonQueryMethods,
    input: { id: string; url: string; description: string | null; eventTypes: string[]; secret: string },
    keyring: Keyring,
  ): Promise<WebhookSubscriberRow> {
    const { sealed, keyId } = sealForStorage(keyring, input.secret, webhookContext(input.id));
    return db.one(sql.type(subscriberRow)`
      INSERT INTO webhook_subscribers (id, url, description, event_types, sealed_secret, key_id)
      VALUES (${input.id}, ${input.url}, ${input.description}, ${sql.array(input.eventTypes, 'text')}, ${sealed}, ${keyId})
      RETURNING id, url, description, event_types, active, created_at`);
  },

  async list(db: CommonQueryMethods): Promise<readonly WebhookSubscriberRow[]> {
    return db.any(sql.type(subscriberRow)`
      SELECT id, url, description, event_types, active, created_at
        FROM webhook_subscribers WHERE deleted_at IS NULL ORDER BY created_at, id`);
  },

  /** Deactivates; the row stays for the delivery log. Returns whether a live subscriber was found. */
  async remove(db: CommonQueryMethods, id: string): Promise<boolean> {
    const result = await db.query(sql.typeAlias('void')`
      UPDATE webhook_subscribers SET active = false, deleted_at = now() WHERE id = ${id} AND deleted_at IS NULL`);
    return result.rowCount > 0;
  },

  /** Active subscribers that want this event type (an empty filter wants every type). */
  async activeFor(db: CommonQueryMethods, eventType: string): Promise<readonly string[]> {
    return db.anyFirst(sql.type(z.object({ id: z.string() }))`
      SELECT id FROM webhook_subscribers
       WHERE active AND (cardinality(event_types) = 0 OR ${eventType} = ANY(event_types))`);
  },

  /** The subscriber with its opened secret, for the delivery worker only; null when gone or inactive. */
  async readForDelivery(
    db: CommonQueryMethods,
    id: string,
    keyring: Keyring,
  ): Promise<{ url: string; secret: string } | null> {
    const row = await db.maybeOne(sql.type(secretRow.extend({ url: z.string() }))`
      SELECT id, url, key_id, sealed_secret, secret FROM webhook_subscribers WHERE id = ${id} AND active`);
    if (!row) return null;
    return { url: row.url, secret: await openSecret(keyring, row) };
  },
};

/** Signing secrets as `keys rotate` sees them (deleted subscribers too: their rows stay for the delivery log). */
export const sealedWebhookSecrets: SealedStore = {
  kind: 'webhook_secret',

  async lockNext(trx, currentKeyId, skip) {
    const row = await trx.maybeOne(sql.type(secretRow)`
      SELECT id, key_id, sealed_secret, secret FROM webhook_subscribers
       WHERE (secret IS NOT NULL OR key_id IS DISTINCT FROM ${currentKeyId}) AND id <> ALL(${sql.array(skip, 'uuid')})
       ORDER BY id
       LIMIT 1
       FOR UPDATE SKIP LOCKED`);
    if (!row) return null;
    return {
      id: row.id,
      keyId: row.key_id,
      legacy: row.secret !== null,
      context: webhookContext(row.id),
      open: (keyring) => openSecret(keyring, row),
    };
  },

  async store(trx, id, { sealed, keyId }) {
    const result = await trx.query(sql.typeAlias('void')`
      UPDATE webhook_subscribers SET sealed_secret = ${sealed}, secret = NULL, key_id = ${keyId} WHERE id = ${id}`);
    return result.rowCount === 1;
  },

  async countByKeyId(db) {
    const rows = await db.any(sql.type(z.object({ key_id: z.string(), n: z.number() }))`
      SELECT CASE WHEN secret IS NOT NULL THEN 'pgcrypto:' ELSE '' END || key_id AS key_id, count(*)::int AS n
        FROM webhook_subscribers GROUP BY 1`);
    return Object.fromEntries(rows.map((row) => [row.key_id, row.n]));
  },
};

export interface DeliveryAttempt {
  subscriberId: string;
  eventId: string;
  eventType: string;
  attempt: number;
  outcome: 'delivered' | 'failed';
  statusCode: number | null;
  durationMs: number;
  error: string | null;
}

export const webhookDeliveriesRepository = {
  async storeEvent(db: CommonQueryMethods, event: { id: string; type: string; body: unknown }): Promise<void> {
    await db.query(sql.typeAlias('void')`
      INSERT INTO webhook_events (id, type, body) VALUES (${event.id}, ${event.type}, ${sql.jsonb(event.body as never)})
      ON CONFLICT (id) DO NOTHING`);
  },

  async readEvent(db: CommonQueryMethods, id: string) {
    return db.maybeOne(sql.type(z.object({ id: z.string(), type: z.string(), body: z.unknown() }))`
      SELECT id, type, body FROM webhook_events WHERE id = ${id}`);
  },

  /** One row per attempt; a stalled job's re-run of the same attempt keeps the first row. */
  async record(db: CommonQueryMethods, attempt: DeliveryAttempt): Promise<void> {
    await db.query(sql.typeAlias('void')`
      INSERT INTO webhook_deliveries (subscriber_id, event_id, event_type, attempt, outcome, status_code, duration_ms, error)
      VALUES (${attempt.subscriberId}, ${attempt.eventId}, ${attempt.eventType}, ${attempt.attempt}, ${attempt.outcome},
              ${attempt.statusCode}, ${attempt.durationMs}, ${attempt.error})
      ON CONFLICT (subscriber_id, event_id, attempt) DO NOTHING`);
  },

  async recent(db: CommonQueryMethods, subscriberId: string, limit = 100) {
    return db.any(sql.type(
      z.object({
        event_id: z.string(),
        event_type: z.string(),
        attempt: z.number(),
        outcome: z.string(),
        status_code: z.number().nullable(),
        duration_ms: z.number(),
        error: z.string().nullable(),
        attempted_at: z.number(),
      }),
    )`
      SELECT event_id, event_type, attempt, outcome, status_code, duration_ms, error, attempted_at
        FROM webhook_deliveries WHERE subscriber_id = ${subscriberId}
       ORDER BY attempted_at DESC, id DESC LIMIT ${limit}`);
  },
};
