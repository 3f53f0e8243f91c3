import {
  AppError,
  createOutbox,
  createTenantsRepository,
  failpoint,
  factEvent,
  keyringFromEnv,
  storageConfigsRepository,
  storageProviders,
  type DomainEvent,
  type JobContext,
  type JobPayload,
  type StorageProvider,
  type StoredStorageConfig,
  type WorkerRuntime,
} from '@deeplens/shared';
import { probeStorage, type ProbeResult } from '../probes/index.js';
import { probeOptions, type VerifierEnv } from '../verification/config.js';
import { verificationsRepository as verifications } from '../repositories/verifications.repository.js';

type Deps = { runtime: WorkerRuntime<VerifierEnv> };

/** A probe's verdict, as the job's failure: the contract's code, the probe's retry decision. */
class ProbeFailedError extends AppError {}

/** Tenants in these states have no storage to verify any more. */
const GONE = new Set(['deleted', 'deprovisioning', 'failed']);

/**
 * storage.verify: load and decrypt the config (held in memory only, never
 * logged), skip when a newer version replaced it, probe it, and record the
 * outcome. Configuration errors fail the job at once; network ones are retried
 * (jittered exponential backoff) while attempts remain, with the config kept
 * `verifying` until the last attempt decides.
 */
export function verifyStorageHandler({ runtime }: Deps) {
  const { platformPool: pool } = runtime;
  const keyring = keyringFromEnv(runtime.env);
  const tenants = createTenantsRepository(pool);
  const outbox = createOutbox({ pool, producer: runtime.producer, log: runtime.log });
  const options = probeOptions(runtime.env);
  const outcomes = runtime.metrics.counter(
    'deeplens_storage_verifications_total',
    'Storage verification attempts by provider and outcome (verified or the error code)',
    ['provider', 'outcome'],
  );

  async function probe(stored: StoredStorageConfig, context: JobContext): Promise<ProbeResult> {
    try {
      return await probeStorage(stored.provider, stored.config as never, { ...options, tenantId: stored.tenantId });
    } catch (error) {
      // The probe library reports failures as values; a throw is a bug. Its error may
      // quote the config, so only its name and code reach the log.
      const { name, code } = error as { name?: string; code?: string };
      context.log.error({ errorName: name, errorCode: code, provider: stored.provider }, 'the storage probe threw');
      return {
        ok: false,
        steps: [],
        totalMs: 0,
        error: {
          code: 'provider_error',
          message: 'the storage could not be probed because of an internal error',
          retryable: true,
        },
      };
    }
  }

  /** The verdict and its domain event commit together; the event goes to the stream after the commit. */
  async function finishWithEvent(outcome: Parameters<typeof verifications.finish>[1], event: DomainEvent) {
    return outbox.transaction(async (trx, record) => {
      const updated = await verifications.finish(trx, outcome);
      await record.events(event);
      return updated;
    });
  }

  async function verify(payload: JobPayload<'storage.verify'>, context: JobContext) {
    const { tenantId, configVersion } = payload;
    const jobId = context.job.id!;
    // The job reached the queue after the transaction that asked for it (and wrote the config) committed.
    const tenant = await tenants.find(tenantId);
    const stored = await storageConfigsRepository.readDecrypted(pool, tenantId, keyring);

    if (!stored || stored.version < configVersion) {
      if (!tenant || GONE.has(tenant.status)) {
        return {
          tenantId,
          configVersion,
          skipped: 'no_storage',
          note: `tenant is ${tenant?.status ?? 'unknown'}; nothing to verify`,
        };
      }
      throw new AppError('not_found', `storage config version ${configVersion} of tenant ${tenantId} is not stored`, {
        retryable: true,
      });
    }
    if (stored.version > configVersion) {
      context.log.info({ tenantId, configVersion, currentVersion: stored.version }, 'stale verification skipped');
      return {
        tenantId,
        configVersion,
        skipped: 'stale',
        currentVersion: stored.version,
        note: `config version ${configVersion} was replaced by version ${stored.version}, which has its own verification`,
      };
    }
    if (!storageProviders.includes(stored.provider as StorageProvider)) {
      throw new AppError('internal_error', `storage provider "${stored.provider}" is not supported`);
    }

    await verifications.startAttempt(pool, {
      jobId,
      tenantId,
      configVersion,
      provider: stored.provider,
      reason: payload.reason ?? null,
      attempt: context.attempt,
      maxAttempts: context.job.opts.attempts ?? 1,
    });
    await context.progress('probe', { provider: stored.provider, configVersion });
    const result = await probe(stored, context);
    // Crash tests: the probe ran, its verdict is not recorded yet.
    await failpoint('verify.after-probe');
    const outcome = { jobId, tenantId, configVersion, steps: result.steps, totalMs: result.totalMs };
    outcomes.inc({ provider: stored.provider, outcome: result.error?.code ?? 'verified' });

    if (!result.error) {
      const event = factEvent('storage.verified', [jobId], tenantId, {
        provider: stored.provider,
        configVersion,
        jobId,
        totalMs: Math.round(result.totalMs),
      });
      const current = await finishWithEvent({ ...outcome, error: null }, event);
      context.log.info(
        { tenantId, configVersion, provider: stored.provider, totalMs: result.totalMs },
        'storage verified',
      );
      return {
        tenantId,
        configVersion,
        status: 'verified',
        steps: result.steps,
        totalMs: result.totalMs,
        superseded: !current,
      };
    }
    const { code, message, retryable } = result.error;
    if (retryable && !context.isFinalAttempt)
      await verifications.recordRetry(pool, { ...outcome, error: { code, message } });
    else {
      const event = factEvent('storage.verification_failed', [jobId], tenantId, {
        provider: stored.provider,
        configVersion,
        jobId,
        error: { code, message },
      });
      await finishWithEvent({ ...outcome, error: { code, message } }, event);
    }
    throw new ProbeFailedError(code, message, { retryable });
  }

  return async (payload: JobPayload<'storage.verify'>, context: JobContext) => {
    try {
      return await verify(payload, context);
    } catch (error) {
      // Not the probe's verdict (a key missing from the keyring, the database away) and no retry
      // follows: the config is neither verified nor known to be bad, so it must not stay `verifying`.
      const willRetry = (error instanceof AppError ? error.retryable : true) && !context.isFinalAttempt;
      if (!(error instanceof ProbeFailedError) && !willRetry) {
        await verifications
          .abandon(pool, context.job.id!, payload.tenantId, payload.configVersion)
          .catch((cause: Error) =>
            context.log.warn({ errorName: cause.name }, 'could not mark the abandoned verification'),
          );
      }
      throw error;
    }
  };
}
