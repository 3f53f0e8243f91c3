import { workerEnvSchema } from '@deeplens/shared';
import { z } from 'zod';

export const provisionerEnvSchema = workerEnvSchema.extend({
  /** How often to look for tenants whose job was lost, and how old such a tenant must be. */
  DEEPLENS_RECONCILE_INTERVAL_MS: z.coerce.number().int().positive().default(60_000),
  DEEPLENS_RECONCILE_AFTER_SECONDS: z.coerce.number().int().positive().default(120),
  /** Finished job records are answered from the platform database this long (the contract: at least 7 days). */
  DEEPLENS_JOB_RECORD_RETENTION_DAYS: z.coerce.number().int().min(7).default(30),
  DEEPLENS_VERIFICATION_HISTORY_DAYS: z.coerce.number().int().positive().default(90),
  /**
   * Tenant databases kept cloned, migrated and proven isolated ahead of
   * demand; a provisioning claims one by renaming it. Lowered, the surplus
   * is dropped at the next refill (at start). 0 turns the pool off (every
   * provisioning clones) and leaves spares already made alone: drop them by
   * hand.
   */
  DEEPLENS_SPARE_DATABASES: z.coerce.number().int().min(0).max(50).default(2),
});

export type ProvisionerEnv = z.infer<typeof provisionerEnvSchema>;
