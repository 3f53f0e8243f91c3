import {
  AppError,
  checkWebhookUrl,
  EVENT_ID_HEADER,
  EVENT_TYPE_HEADER,
  guardedAgents,
  isAppError,
  isEgressForbidden,
  keyringFromEnv,
  SIGNATURE_HEADER,
  signWebhook,
  webhookDeliveriesRepository as deliveries,
  webhookSubscribersRepository as subscribers,
  webhookUrlPolicyFromEnv,
  type JobContext,
  type JobPayload,
  type WorkerRuntime,
} from '@deeplens/shared';
import type { DispatcherEnv } from '../config.js';
import { postWebhook } from '../delivery/post-webhook.js';

type Deps = { runtime: WorkerRuntime<DispatcherEnv> };

/**
 * Why a request failed, in the platform's words: no secret, nothing the
 * receiver sent (the URL's host only, never its query or credentials).
 */
function describeFailure(error: unknown, timeoutMs: number): string {
  const e = error as { name?: string; code?: string; message?: string };
  // The egress guard's own sentence: names the address class, never the receiver's words.
  if (isEgressForbidden(error)) return e.message ?? "the receiver's address is refused";
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `no answer within ${timeoutMs} ms`;
  return `request failed${typeof e.code === 'string' && /^[A-Z_]+$/.test(e.code) ? ` (${e.code})` : ''}`;
}

/** Why an answer is not a delivery; 3xx included: a redirect is never followed. */
function describeStatus(status: number): string | null {
  if (status >= 200 && status < 300) return null;
  if (status >= 300 && status < 400) return `the receiver answered HTTP ${status}; redirects are not followed`;
  return `the receiver answered HTTP ${status}`;
}

/**
 * webhook.deliver: POST the event to the subscriber, signed over
 * `timestamp.body` with its secret. Every attempt is logged; anything but a
 * 2xx within the timeout (a 3xx too: redirects are not followed) fails the
 * attempt, retried with jittered exponential backoff (DEEPLENS_WEBHOOK_*).
 * A URL the egress policy refuses (checkWebhookUrl, then the guarded agents
 * at connect time) fails the job with endpoint_forbidden, not retried, with no
 * connection made. A subscriber deleted meanwhile ends the job quietly.
 */
export function deliverWebhookHandler({ runtime }: Deps) {
  const { env, platformPool: pool } = runtime;
  const keyring = keyringFromEnv(env);
  const timeoutMs = env.DEEPLENS_WEBHOOK_TIMEOUT_MS;
  const outcomes = runtime.metrics.counter(
    'deeplens_webhook_deliveries_total',
    'Webhook delivery attempts by outcome',
    ['outcome'],
  );
  const urlPolicy = webhookUrlPolicyFromEnv(env);
  // No keep-alive: each delivery's connection resolves and checks the receiver's name afresh.
  const agents = guardedAgents(urlPolicy.egress, { keepAlive: false });

  return async ({ subscriberId, eventId }: JobPayload<'webhook.deliver'>, context: JobContext) => {
    const subscriber = await subscribers.readForDelivery(pool, subscriberId, keyring);
    if (!subscriber) return { subscriberId, eventId, skipped: 'subscriber_inactive' };
    const event = await deliveries.readEvent(pool, eventId);
    if (!event) throw new AppError('not_found', `event ${eventId} is not stored`);

    const body = JSON.stringify(event.body);
    const started = performance.now();
    let statusCode: number | null = null;
    let error: string | null = null;
    // A refusal (the URL's rule or the address it resolves to) will not change on a retry: its code, else null.
    let refusal: string | null = null;
    try {
      // Checked again at each delivery: a policy tightened since registration holds.
      const url = checkWebhookUrl(subscriber.url, urlPolicy);
      statusCode = await postWebhook(url, agents, {
        timeoutMs,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'DeepLens-Webhooks/1',
          [SIGNATURE_HEADER]: signWebhook(subscriber.secret, body),
          [EVENT_ID_HEADER]: event.id,
          [EVENT_TYPE_HEADER]: event.type,
        },
        body,
      });
      error = describeStatus(statusCode);
    } catch (cause) {
      if (isEgressForbidden(cause)) refusal = 'endpoint_forbidden';
      else if (isAppError(cause) && !cause.retryable) refusal = cause.code;
      error = isAppError(cause) ? cause.message : describeFailure(cause, timeoutMs);
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
      if (refusal)
        throw new AppError(refusal, `delivery to ${host} refused: ${error}`, { retryable: false, httpStatus: 400 });
      throw new AppError('webhook_delivery_failed', `delivery to ${host} failed: ${error}`, {
        retryable: true,
        httpStatus: 502,
      });
    }
    return { subscriberId, eventId, statusCode, durationMs, attempt: context.attempt };
  };
}
