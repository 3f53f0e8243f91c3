import {
  AppError,
  EVENT_ID_HEADER,
  EVENT_TYPE_HEADER,
  keyringFromEnv,
  SIGNATURE_HEADER,
  signWebhook,
  webhookDeliveriesRepository as deliveries,
  webhookSubscribersRepository as subscribers,
  type JobContext,
  type JobPayload,
  type WorkerRuntime,
} from '@deeplens/shared';
import type { DispatcherEnv } from '../config.js';

type Deps = { runtime: WorkerRuntime<DispatcherEnv> };

/** Why a request failed, in words that hold no secret (the URL's host only, never its query or credentials). */
function describeFailure(error: unknown, timeoutMs: number): string {
  const e = error as { name?: string; cause?: { code?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `no answer within ${timeoutMs} ms`;
  return `request failed${e.cause?.code ? ` (${e.cause.code})` : ''}`;
}

/**
 * webhook.deliver: POST the event to the subscriber, signed over
 * `timestamp.body` with its secret. Every attempt is logged; anything but a
 * 2xx within the timeout fails the attempt, retried with jittered
 * exponential backoff (DEEPLENS_WEBHOOK_*). A subscriber deleted meanwhile
 * ends the job quietly.
 */
export function deliverWebhookHandler({ runtime }: Deps) {
  const { env, platformPool: pool } = runtime;
  const keyring = keyringFromEnv(env);
  const timeoutMs = env.DEEPLENS_WEBHOOK_TIMEOUT_MS;
  const outcomes = runtime.metrics.counter('deeplens_webhook_deliveries_total', 'Webhook delivery attempts by outcome', ['outcome']);

  return async ({ subscriberId, eventId }: JobPayload<'webhook.deliver'>, context: JobContext) => {
    const subscriber = await subscribers.readForDelivery(pool, subscriberId, keyring);
    if (!subscriber) return { subscriberId, eventId, skipped: 'subscriber_inactive' };
    const event = await deliveries.readEvent(pool, eventId);
    if (!event) throw new AppError('not_found', `event ${eventId} is not stored`);

    const body = JSON.stringify(event.body);
    const started = performance.now();
    let statusCode: number | null = null;
    let error: string | null = null;
    try {
      const response = await fetch(subscriber.url, {
        method: 'POST',
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
        headers: {
          'content-type': 'application/json',
          'user-agent': 'DeepLens-Webhooks/1',
          [SIGNATURE_HEADER]: signWebhook(subscriber.secret, body),
          [EVENT_ID_HEADER]: event.id,
          [EVENT_TYPE_HEADER]: event.type,
        },
        body,
      });
      statusCode = response.status;
      await response.body?.cancel().catch(() => undefined);
      if (statusCode < 200 || statusCode >= 300) error = `the receiver answered HTTP ${statusCode}`;
    } catch (cause) {
      error = describeFailure(cause, timeoutMs);
    }
    const durationMs = Math.round(performance.now() - started);
    await deliveries.record(pool, {
      subscriberId,
      eventId,
      eventType: event.type,
      attempt: context.attempt,
      outcome: error ? 'failed' : 'delivered',
      statusCode,
      durationMs,
      error,
    });
    outcomes.inc({ outcome: error ? 'failed' : 'delivered' });
    if (error) {
      const host = new URL(subscriber.url).host;
      throw new AppError('webhook_delivery_failed', `delivery to ${host} failed: ${error}`, { retryable: true, httpStatus: 502 });
    }
    return { subscriberId, eventId, statusCode, durationMs, attempt: context.attempt };
  };
}
