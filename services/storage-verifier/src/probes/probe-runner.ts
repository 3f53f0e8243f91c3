import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { egressRefusal } from '@deeplens/shared/storage-clients';
import { failure, providerFailure, redact } from './probe-errors.js';
import type { ProbeFailure, ProbeOptions, ProbeResult, ProbeStep } from './types.js';

export { classifyNetworkError, errorCodes, errorDetail, failure, providerFailure, redact } from './probe-errors.js';

/**
 * The part every probe shares: the write → read (SHA-256 compare) → list (one
 * item) → delete sequence, a deadline per step and for the whole probe,
 * best-effort cleanup after a failure, and the helpers that turn SDK and
 * socket errors into a tenant-facing, secret-free message.
 */

export const PROBE_PREFIX = '.deeplens-probe/';
const PROBE_BYTES = 384;

export type StepName = ProbeStep['step'];

/** One provider's four operations on the probe object; `key` always starts with PROBE_PREFIX. */
export interface ProbeOperations {
  write(key: string, body: Buffer, signal: AbortSignal): Promise<void>;
  read(key: string, signal: AbortSignal): Promise<Buffer>;
  /** Lists at most ONE entry under the prefix; resolves whether that listing showed the probe object. */
  list(key: string, signal: AbortSignal): Promise<boolean>;
  remove(key: string, signal: AbortSignal): Promise<void>;
  /** Releases sockets; must not throw. */
  close?(): void;
}

export interface ProbeDefinition {
  /** Names the storage in the tenant's terms, e.g. `bucket "x" at http://host:9000`. */
  target: string;
  /** Secret values from the config: they are scrubbed from every message as a last line of defence. */
  secrets: ReadonlyArray<string | undefined>;
  /** Builds the client; runs inside the write step, so its errors are classified too. */
  open(signal: AbortSignal): ProbeOperations | Promise<ProbeOperations>;
  /** Maps an SDK/socket error raised during `step` to a failure. */
  classify(error: unknown, step: StepName): ProbeFailure;
}

/** Thrown by a probe (or the runner) when it already knows the classified failure. */
export class ProbeFailureError extends Error {
  constructor(readonly failure: ProbeFailure) {
    super(failure.message);
    this.name = 'ProbeFailureError';
  }
}

/** Why a deadline fired. */
class ProbeDeadlineError extends Error {
  constructor(
    readonly kind: 'step' | 'total' | 'cancelled',
    readonly ms: number,
  ) {
    super(kind === 'cancelled' ? 'the probe was cancelled' : `deadline of ${ms} ms exceeded`);
    this.name = 'ProbeDeadlineError';
  }
}

function probeKey(): string {
  return `${PROBE_PREFIX}${new Date().toISOString().replace(/[:.]/g, '-')}-${randomUUID()}.bin`;
}

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

/** Runs `fn` with a signal that aborts after `ms` or when `outer` aborts; rejects as soon as either happens. */
async function withDeadline<T>(fn: (signal: AbortSignal) => Promise<T>, ms: number, outer?: AbortSignal): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new ProbeDeadlineError('step', ms)), Math.max(0, ms));
  const onOuter = () => controller.abort(outer?.reason);
  if (outer?.aborted) onOuter();
  else outer?.addEventListener('abort', onOuter, { once: true });
  try {
    return await new Promise<T>((resolve, reject) => {
      const signal = controller.signal;
      if (signal.aborted) return reject(signal.reason);
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      fn(signal).then(resolve, reject);
    });
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener('abort', onOuter);
  }
}

export async function runProbe(definition: ProbeDefinition, options: ProbeOptions): Promise<ProbeResult> {
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  const steps: ProbeStep[] = [];
  const total = new AbortController();
  const totalTimer = setTimeout(
    () => total.abort(new ProbeDeadlineError('total', options.totalTimeoutMs)),
    options.totalTimeoutMs,
  );
  const onCancel = () => total.abort(new ProbeDeadlineError('cancelled', 0));
  if (options.signal?.aborted) onCancel();
  else options.signal?.addEventListener('abort', onCancel, { once: true });

  const key = probeKey();
  const body = randomBytes(PROBE_BYTES);
  let ops: ProbeOperations | undefined;
  let objectMayExist = false;

  const timed = async <T>(step: StepName, fn: (signal: AbortSignal) => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      const value = await withDeadline(fn, options.stepTimeoutMs, total.signal);
      steps.push({ step, ms: Math.round(performance.now() - t0), ok: true });
      return value;
    } catch (error) {
      steps.push({ step, ms: Math.round(performance.now() - t0), ok: false });
      throw new StepError(step, error);
    }
  };

  let error: ProbeFailure | null = null;
  try {
    await timed('write', async (signal) => {
      ops = await definition.open(signal);
      objectMayExist = true;
      await ops.write(key, body, signal);
    });
    await timed('read', async (signal) => {
      const back = await ops!.read(key, signal);
      if (sha256(back) !== sha256(body)) {
        throw new ProbeFailureError(
          providerFailure(
            `the object read back from ${definition.target} differs from what was written (SHA-256 mismatch)`,
          ),
        );
      }
    });
    await timed('list', async (signal) => {
      if (!(await ops!.list(key, signal))) {
        throw new ProbeFailureError(
          providerFailure(
            `listing "${PROBE_PREFIX}" in ${definition.target} did not show the object that was just written`,
          ),
        );
      }
    });
    await timed('delete', async (signal) => {
      await ops!.remove(key, signal);
      objectMayExist = false;
    });
  } catch (caught) {
    const { step, cause } = caught instanceof StepError ? caught : new StepError('write', caught);
    error = classifyFailure(definition, step, cause, options);
  } finally {
    clearTimeout(totalTimer);
    options.signal?.removeEventListener('abort', onCancel);
  }

  if (objectMayExist && ops && steps.at(-1)?.step !== 'delete') {
    // Best effort: within what is left of the total budget, else in the background.
    const left = options.totalTimeoutMs - elapsed();
    const cleanup = withDeadline(
      (signal) => ops!.remove(key, signal),
      Math.min(options.stepTimeoutMs, Math.max(left, 0)),
    ).catch(() => undefined);
    if (left >= 100) await cleanup;
    else {
      const opened = ops;
      void withDeadline((signal) => opened.remove(key, signal), options.stepTimeoutMs)
        .catch(() => undefined)
        .finally(() => closeQuietly(opened));
      ops = undefined;
    }
  }
  if (ops) closeQuietly(ops);

  return { ok: error === null, steps, error, totalMs: Math.round(elapsed()) };
}

class StepError extends Error {
  constructor(
    readonly step: StepName,
    override readonly cause: unknown,
  ) {
    super(`step ${step} failed`);
  }
}

function closeQuietly(ops: ProbeOperations) {
  try {
    ops.close?.();
  } catch {
    // closing is best effort
  }
}

function classifyFailure(
  definition: ProbeDefinition,
  step: StepName,
  cause: unknown,
  options: ProbeOptions,
): ProbeFailure {
  let result: ProbeFailure;
  if (cause instanceof ProbeFailureError) result = cause.failure;
  else if (cause instanceof ProbeDeadlineError) {
    result =
      cause.kind === 'cancelled'
        ? failure('timeout', `the probe of ${definition.target} was cancelled during the ${step} step`)
        : cause.kind === 'total'
          ? failure(
              'timeout',
              `the probe of ${definition.target} did not finish within ${options.totalTimeoutMs} ms (stopped during the ${step} step)`,
            )
          : failure(
              'timeout',
              `the ${step} step against ${definition.target} did not finish within ${options.stepTimeoutMs} ms`,
            );
  } else if (egressRefusal(cause, definition.target)) {
    // Before any provider's classifier: the guard refused the connection, nothing reached the endpoint.
    result = failure('endpoint_forbidden', egressRefusal(cause, definition.target)!.message, false);
  } else {
    try {
      result = definition.classify(cause, step);
    } catch {
      result = providerFailure(`the ${step} step against ${definition.target} failed`);
    }
  }
  const message = redact(result.message, definition.secrets).replace(/[\u0000-\u001f\u007f\ufffd]+/g, ' ');
  return { ...result, message: message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 3)}...` : message };
}

const MAX_MESSAGE = 400;
