import { positiveInt, workerEnvSchema } from '@deeplens/shared';
import type { z } from 'zod';

export const dispatcherEnvSchema = workerEnvSchema.extend({
  /** How long one webhook delivery request may take. */
  DEEPLENS_WEBHOOK_TIMEOUT_MS: positiveInt(10_000),
  /** Outbox rows (jobs and events) unpublished this long are published by the dispatcher: their writer died or lost Redis after its commit. */
  DEEPLENS_OUTBOX_GRACE_MS: positiveInt(10_000),
  DEEPLENS_OUTBOX_INTERVAL_MS: positiveInt(5_000),
  /** Stream entries another dispatcher took and left unacknowledged this long are claimed. */
  DEEPLENS_EVENTS_CLAIM_IDLE_MS: positiveInt(60_000),
});

export type DispatcherEnv = z.infer<typeof dispatcherEnvSchema>;
