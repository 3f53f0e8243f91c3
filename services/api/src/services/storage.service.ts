import { randomUUID } from 'node:crypto';
import {
  AppError,
  assertNfsConfigAllowed,
  assertStorageEgress,
  conflict,
  notFound,
  storageConfigsRepository,
  writeAudit,
  type AnyStorageConfig,
  type DatabasePool,
  type EgressPolicy,
  type Keyring,
  type NfsRules,
  type Outbox,
  type TenantRow,
  type TenantsRepository,
} from '@deeplens/shared';
import type { CommonQueryMethods } from 'slonik';
import {
  storageRequestsRepository as storageRequests,
  type VerificationRow,
} from '../repositories/storage-requests.repository.js';

/**
 * A tenant's storage (BYOS): replace it, test it, show it. Every change and
 * every test is a storage.verify job carrying only ids and the config version;
 * the verifier decrypts the config itself. Answers mask every secret field.
 */

const HISTORY_LIMIT = 10;

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function toHistoryEntry(row: VerificationRow) {
  return {
    jobId: row.job_id,
    configVersion: row.config_version,
    reason: row.reason,
    status: row.status,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    error: row.error_code ? { code: row.error_code, message: row.error_message ?? '' } : null,
    steps: row.steps,
    totalMs: row.total_ms,
    startedAt: iso(row.started_at)!,
    finishedAt: iso(row.finished_at),
  };
}

/** Tenants whose storage can no longer change: being removed, removed, or never provisioned. */
const CLOSED_STATUSES = new Set(['deprovisioning', 'deleted', 'failed']);

function assertOpen(tenant: { name: string; status: string }) {
  if (CLOSED_STATUSES.has(tenant.status)) {
    throw conflict(`tenant ${tenant.name} is ${tenant.status}; its storage cannot be changed or tested`);
  }
}

export interface StorageServiceDeps {
  pool: DatabasePool;
  tenants: TenantsRepository;
  outbox: Outbox;
  keyring: Keyring;
  nfs: NfsRules;
  egress: EgressPolicy;
}

export function createStorageService({ pool, tenants, outbox, keyring, nfs, egress }: StorageServiceDeps) {
  /** Locks the tenant row for the transaction, so a deletion cannot slip in between check and write. */
  async function lockOpenTenant(trx: CommonQueryMethods, tenant: TenantRow) {
    const status = await storageRequests.lockTenantStatus(trx, tenant.id);
    assertOpen({ name: tenant.name, status: status ?? 'deleted' });
  }

  return {
    /**
     * Replaces the tenant's storage config (encrypted, version bumped), marks it
     * `verifying` and records its verification job, in one transaction: the job
     * reaches the queue after the commit, so a refused write leaves the old
     * config in place and the verifier always reads the new one.
     */
    async put(idOrName: string, input: AnyStorageConfig, actor: string) {
      assertStorageEgress(egress, input, 'body.config');
      const tenant = await tenants.get(idOrName);
      assertOpen(tenant);
      await assertNfsConfigAllowed(input, nfs, tenant.id);
      const jobId = await outbox.transaction(async (trx, record) => {
        await lockOpenTenant(trx, tenant);
        const configVersion = await storageConfigsRepository.save(
          trx,
          { tenantId: tenant.id, provider: input.provider, config: input.config as Record<string, unknown> },
          keyring,
        );
        if (configVersion === null) throw new AppError('internal_error', 'the storage config was not saved');
        await storageRequests.markVerifying(trx, tenant.id);
        await writeAudit(trx, {
          actor,
          action: 'tenant.storage.update',
          tenantId: tenant.id,
          // Field names only: the values may be secrets.
          details: { provider: input.provider, configVersion, fields: Object.keys(input.config).sort() },
        });
        return record.job('storage.verify', {
          tenantId: tenant.id,
          configVersion,
          requestId: randomUUID(),
          reason: 'changed',
        });
      });
      return { jobId };
    },

    /** Verifies the stored config again, on demand. */
    async test(idOrName: string, actor: string) {
      const tenant = await tenants.get(idOrName);
      assertOpen(tenant);
      const jobId = await outbox.transaction(async (trx, record) => {
        await lockOpenTenant(trx, tenant);
        const configVersion = await storageRequests.markVerifying(trx, tenant.id);
        if (configVersion === null) throw notFound(`tenant ${tenant.name} has no storage configured`);
        await writeAudit(trx, {
          actor,
          action: 'tenant.storage.test',
          tenantId: tenant.id,
          details: { configVersion },
        });
        return record.job('storage.verify', {
          tenantId: tenant.id,
          configVersion,
          requestId: randomUUID(),
          reason: 'on_demand',
        });
      });
      return { jobId };
    },

    /** The config with secrets masked, its verification status, and the recent verifications with step timings. */
    async get(idOrName: string) {
      const tenant = await tenants.get(idOrName);
      const view = await storageConfigsRepository.findView(pool, tenant.id);
      if (!view) throw notFound(`tenant ${tenant.name} has no storage configured`);
      const history = (await storageRequests.recentVerifications(pool, tenant.id, HISTORY_LIMIT)).map(toHistoryEntry);
      const lastFinished = history.find((entry) => entry.configVersion === view.version && entry.finishedAt !== null);
      return { ...view, steps: lastFinished?.steps ?? [], history };
    },
  };
}

export type StorageService = ReturnType<typeof createStorageService>;
