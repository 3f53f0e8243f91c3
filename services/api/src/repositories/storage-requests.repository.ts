import { sql } from '@deeplens/shared';
import type { CommonQueryMethods } from 'slonik';
import { z } from 'zod';

/**
 * What the API reads and marks around a tenant's storage: the tenant's status
 * under a row lock, the config's `verifying` mark, and the verification
 * history the storage-verifier writes (infra/migrations/platform/0003).
 */

const verificationRow = z.object({
  job_id: z.string(),
  config_version: z.number(),
  reason: z.string().nullable(),
  status: z.string(),
  attempts: z.number(),
  max_attempts: z.number(),
  error_code: z.string().nullable(),
  error_message: z.string().nullable(),
  steps: z.array(z.object({ step: z.string(), ms: z.number(), ok: z.boolean() })),
  total_ms: z.number().nullable(),
  started_at: z.number(),
  finished_at: z.number().nullable(),
});
export type VerificationRow = z.infer<typeof verificationRow>;

export const storageRequestsRepository = {
  /** The tenant's status, its row locked for the transaction; null when the row is gone. */
  async lockTenantStatus(trx: CommonQueryMethods, tenantId: string): Promise<string | null> {
    return trx.maybeOneFirst(sql.type(z.object({ status: z.string() }))`
      SELECT status FROM tenants WHERE id = ${tenantId} FOR UPDATE`);
  },

  /** Marks the tenant's config `verifying`; returns its version, or null when the tenant has no config. */
  async markVerifying(trx: CommonQueryMethods, tenantId: string): Promise<number | null> {
    return trx.maybeOneFirst(sql.type(z.object({ version: z.number() }))`
      UPDATE tenant_storage_configs SET status = 'verifying', updated_at = now()
       WHERE tenant_id = ${tenantId} RETURNING version`);
  },

  /** The latest verifications of the tenant's storage, newest first. */
  async recentVerifications(
    db: CommonQueryMethods,
    tenantId: string,
    limit: number,
  ): Promise<readonly VerificationRow[]> {
    return db.any(sql.type(verificationRow)`
      SELECT job_id, config_version, reason, status, attempts, max_attempts, error_code, error_message,
             steps, total_ms, started_at, finished_at
        FROM storage_verifications
       WHERE tenant_id = ${tenantId}
       ORDER BY started_at DESC, id DESC
       LIMIT ${limit}`);
  },
};
