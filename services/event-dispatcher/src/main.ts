import { publishStrandedEvents, runWorkerService } from '@deeplens/shared';
import { dispatcherEnvSchema } from './config.js';
import { startDispatcher } from './dispatcher.js';
import { deliverWebhookHandler } from './jobs/deliver-webhook.js';

/**
 * The event dispatcher: publishes domain events stranded in the outbox,
 * fans the stream out to webhook subscribers, and delivers the webhooks.
 */
await runWorkerService({
  name: 'event-dispatcher',
  envSchema: dispatcherEnvSchema,
  async start(runtime) {
    runtime.startWorker('webhooks', { 'webhook.deliver': deliverWebhookHandler({ runtime }) });
    const dispatcher = startDispatcher(runtime);
    runtime.onClose(() => dispatcher.close());

    const target = { redis: runtime.producer.connection, queuePrefix: runtime.env.DEEPLENS_QUEUE_PREFIX };
    const timer = setInterval(() => {
      publishStrandedEvents(runtime.platformPool, target, runtime.env.DEEPLENS_OUTBOX_GRACE_MS)
        .then((count) => count && runtime.log.info({ count }, 'published events stranded in the outbox'))
        .catch((error) => runtime.log.warn({ err: error }, 'publishing stranded events failed; will try again'));
    }, runtime.env.DEEPLENS_OUTBOX_INTERVAL_MS);
    timer.unref();
    runtime.onClose(async () => clearInterval(timer));
  },
});
