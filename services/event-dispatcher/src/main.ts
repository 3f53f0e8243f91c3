import { createOutbox, runWorkerService } from '@deeplens/shared';
import { dispatcherEnvSchema } from './config.js';
import { startDispatcher } from './dispatcher.js';
import { deliverWebhookHandler } from './jobs/deliver-webhook.js';

/**
 * The event dispatcher: sweeps the outbox (jobs and events whose writer died
 * or lost Redis after its commit), fans the stream out to webhook
 * subscribers, and delivers the webhooks.
 */
await runWorkerService({
  name: 'event-dispatcher',
  envSchema: dispatcherEnvSchema,
  async start(runtime) {
    runtime.startWorker('webhooks', { 'webhook.deliver': deliverWebhookHandler({ runtime }) });
    const dispatcher = startDispatcher(runtime);
    runtime.onClose(() => dispatcher.close());

    const outbox = createOutbox({ pool: runtime.platformPool, producer: runtime.producer, log: runtime.log });
    runtime.every({ name: 'outbox sweep', intervalMs: runtime.env.DEEPLENS_OUTBOX_INTERVAL_MS }, async () => {
      const count = await outbox.sweep(runtime.env.DEEPLENS_OUTBOX_GRACE_MS);
      if (count) runtime.log.info({ count }, 'published jobs and events stranded in the outbox');
    });
  },
});
