import type { Job } from 'bullmq';
import type { ErrorBody } from '../errors.js';

/** A job as the contract's `GET /v1/jobs/:id` shows it. */
export interface JobView {
  id: string;
  type: string;
  tenantId: string | null;
  state: 'waiting' | 'active' | 'delayed' | 'completed' | 'failed';
  attempts: number;
  maxAttempts: number;
  progress: unknown;
  result: unknown;
  error: ErrorBody | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

/**
 * Failed jobs carry their error as "code: message" in BullMQ's failedReason,
 * so the code survives the trip through Redis unchanged.
 */
export function encodeFailure(error: ErrorBody): string {
  return `${error.code}: ${error.message}`;
}

function decodeFailure(failedReason: string | undefined): ErrorBody | null {
  if (!failedReason) return null;
  const match = /^([a-z][a-z0-9_]*): ([\s\S]*)$/.exec(failedReason);
  if (match) return { code: match[1]!, message: match[2]! };
  return { code: 'internal_error', message: 'the job failed unexpectedly' };
}

const iso = (ms: number | undefined) => (ms ? new Date(ms).toISOString() : null);

function toJobState(state: string): JobView['state'] {
  switch (state) {
    case 'active':
    case 'delayed':
    case 'completed':
    case 'failed':
      return state;
    default:
      return 'waiting'; // waiting, prioritized, waiting-children, paused
  }
}

export function jobViewFromBull(job: Job, state: string, tenantOf: (data: never) => string | null): JobView {
  const finalState = toJobState(state);
  return {
    id: job.id!,
    type: job.name,
    tenantId: tenantOf(job.data as never),
    state: finalState,
    // attemptsStarted counts the attempt under way too; attemptsMade only finished ones.
    attempts: Math.max(job.attemptsMade, job.attemptsStarted ?? 0),
    maxAttempts: job.opts.attempts ?? 1,
    progress: job.progress ?? null,
    result: finalState === 'completed' ? (job.returnvalue ?? null) : null,
    error: finalState === 'failed' || finalState === 'delayed' ? decodeFailure(job.failedReason) : null,
    createdAt: new Date(job.timestamp).toISOString(),
    startedAt: iso(job.processedOn),
    finishedAt: finalState === 'completed' || finalState === 'failed' ? iso(job.finishedOn) : null,
  };
}
