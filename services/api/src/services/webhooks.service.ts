import { randomUUID } from 'node:crypto';
import {
  checkWebhookUrl,
  domainEventTypes,
  newWebhookSecret,
  notFound,
  validationFailed,
  webhookDeliveriesRepository,
  webhookSubscriberView,
  webhookSubscribersRepository,
  writeAudit,
  type DatabasePool,
  type Keyring,
  type WebhookUrlPolicy,
} from '@deeplens/shared';

/**
 * Webhook subscribers. The signing secret is made here, stored encrypted,
 * and returned once, in the answer that creates the subscriber.
 */
export function createWebhooksService({
  pool,
  keyring,
  urlPolicy,
}: {
  pool: DatabasePool;
  keyring: Keyring;
  urlPolicy: WebhookUrlPolicy;
}) {
  return {
    async create(input: { url: string; eventTypes?: string[]; description?: string }, actor: string) {
      const url = checkWebhookUrl(input.url, urlPolicy);
      const unknown = (input.eventTypes ?? []).filter((type) => !(domainEventTypes as string[]).includes(type));
      if (unknown.length)
        throw validationFailed(
          `body.eventTypes: unknown event types ${unknown.join(', ')}; known: ${domainEventTypes.join(', ')}`,
        );
      const secret = newWebhookSecret();
      const row = await pool.transaction(async (trx) => {
        const created = await webhookSubscribersRepository.create(
          trx,
          {
            id: randomUUID(),
            url: url.toString(),
            description: input.description ?? null,
            eventTypes: [...new Set(input.eventTypes ?? [])],
            secret,
          },
          keyring,
        );
        await writeAudit(trx, {
          actor,
          action: 'webhook.create',
          details: { id: created.id, url: created.url, eventTypes: created.event_types },
        });
        return created;
      });
      return { ...webhookSubscriberView(row), secret };
    },

    async list() {
      return { items: (await webhookSubscribersRepository.list(pool)).map(webhookSubscriberView) };
    },

    async remove(id: string, actor: string) {
      const removed = await pool.transaction(async (trx) => {
        const found = await webhookSubscribersRepository.remove(trx, id);
        if (found) await writeAudit(trx, { actor, action: 'webhook.delete', details: { id } });
        return found;
      });
      if (!removed) throw notFound(`no webhook ${id}`);
    },

    async deliveries(id: string) {
      const rows = await webhookDeliveriesRepository.recent(pool, id);
      return {
        items: rows.map((row) => ({
          eventId: row.event_id,
          eventType: row.event_type,
          attempt: row.attempt,
          outcome: row.outcome,
          statusCode: row.status_code,
          durationMs: row.duration_ms,
          error: row.error,
          attemptedAt: new Date(row.attempted_at).toISOString(),
        })),
      };
    },
  };
}

export type WebhooksService = ReturnType<typeof createWebhooksService>;
