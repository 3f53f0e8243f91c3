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
    runtime.every({ name: 'outbox sweep', intervalMs: runtime.env.DEEPLENS_OUTBOX_INTERVAL_MS }, async () => {
      const count = await publishStrandedEvents(runtime.platformPool, target, runtime.env.DEEPLENS_OUTBOX_GRACE_MS);
      if (count) runtime.log.info({ count }, 'published events stranded in the outbox');
    });
  },
});
