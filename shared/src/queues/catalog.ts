import { v4 as uuidv4, v5 as uuidv5 } from 'uuid';
import { Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { z } from 'zod';
import type { BaseEnv } from '../config/env.js';
// Also registers the uuid and date-time formats the compiled payload checks below rely on.
import type { ApiCallEvent } from '../schemas/http/usage.js';
import '../schemas/http/usage.js';

/**
 * The one catalog of background work. For each job: its queue, the schema of
 * its payload (checked when enqueued and again when dequeued), its retry
 * policy, how long Redis keeps it, and how its id is derived. Producers and
 * handlers are typed from here, so a payload cannot drift between the API and
 * a worker. New payload fields must be optional so queued jobs still validate
 * after a deploy.
 */

export const queueNames = ['provisioning', 'storage', 'usage', 'webhooks'] as const;
export type QueueName = (typeof queueNames)[number];

/** Namespace of the deterministic (v5) job ids. */
const JOB_ID_NAMESPACE = '0b5c8f8e-7d3e-4d6a-9d0e-5c1f2a3b4c5d';
export const deterministicJobId = (...parts: string[]) => uuidv5(parts.join('/'), JOB_ID_NAMESPACE);

const DAY = 24 * 60 * 60;

/** Redis keeps finished jobs this long and this many; the platform database keeps the record after. */
const tenantJobRetention = {
  removeOnComplete: { age: 8 * DAY, count: 10_000 },
  removeOnFail: { age: 8 * DAY, count: 10_000 },
};
const highVolumeRetention = {
  removeOnComplete: { age: 3600, count: 1_000 },
  removeOnFail: { age: 8 * DAY, count: 10_000 },
};

const uuid = z.string().uuid();

/** The tenant every event names, or null when they name several. */
export function soleTenantOf(events: readonly ApiCallEvent[]): string | null {
  const first = events[0]?.tenantId ?? null;
  return events.every((event) => event.tenantId === first) ? first : null;
}

/** The most events one usage.ingest job may carry. */
export const MAX_EVENTS_PER_JOB = 10_000;

/**
 * A usage.ingest payload. The intake writes the events as the JSON text of an
 * array of rows (`eventRows`, each `[eventId, tenantId, endpoint, method,
 * statusCode, durationMs, requestBytes, responseBytes, occurredAt]`, see
 * EVENT_ROW_FIELDS) after checking each one field by field, and the
 * aggregator hands that text to PostgreSQL as it is: the queue carries
 * millions of events, and parsing them back into objects, checking them again
 * and serialising them for PostgreSQL was most of the aggregator's work.
 * Rows rather than objects: without the nine keys an event is half the bytes,
 * in Redis (where the job data is JSON again, every quote escaped), on every
 * socket, and in PostgreSQL's parse. Here the text is checked
 * for its shape only; PostgreSQL casts every field to its column type (uuid,
 * integer, timestamptz) and refuses the job's statement otherwise, which
 * fails that job alone (see the aggregator's group commit).
 *
 * Unknown top-level fields pass, so a payload of a newer version still
 * validates in an older worker.
 */
export type UsageEvent = ApiCallEvent;
export interface UsageIngestPayload {
  eventRows: string;
  eventCount: number;
  /** Set when every event names this tenant. */
  tenantId?: string | null;
}
// An event's JSON is at most ~1 KB (endpoint ≤ 512 characters); 2 KB each leaves room for escapes.
const jsonText = Type.String({ minLength: 2, maxLength: MAX_EVENTS_PER_JOB * 2048 });
const countAndTenant = {
  eventCount: Type.Integer({ minimum: 1, maximum: MAX_EVENTS_PER_JOB }),
  tenantId: Type.Optional(Type.Union([Type.String({ format: 'uuid' }), Type.Null()])),
};
const eventRowsCheck = TypeCompiler.Compile(Type.Object({ eventRows: jsonText, ...countAndTenant }));
// The text's ends, not a pattern: a regular expression would scan megabytes of it.
const isJsonArray = (text: string) => text.startsWith('[') && text.endsWith(']');
const usageIngestPayload = z.custom<UsageIngestPayload>(
  (value) => eventRowsCheck.Check(value) && isJsonArray(value.eventRows),
  {
    message: `a usage.ingest payload is eventRows (a JSON array of 1 to ${MAX_EVENTS_PER_JOB} event rows) with eventCount`,
  },
);

interface JobDefinition<P extends z.ZodTypeAny> {
  queue: QueueName;
  payload: P;
  /** Attempts (the first included) and backoff, from the producer's parsed environment for the jobs an installation tunes. */
  retry: (env: RetryPolicyEnv) => RetryPolicy;
  retention: typeof tenantJobRetention;
  jobId: (payload: z.infer<P>) => string;
  /**
   * The id names the work itself (one provisioning per tenant): asking again
   * while the job is queued or running finds it; asking again after it failed
   * runs it again.
   */
  rerunsFailed?: boolean;
  /** The tenant a job concerns, shown in the job record. */
  tenantOf: (payload: z.infer<P>) => string | null;
}

const defineJob = <P extends z.ZodTypeAny>(definition: JobDefinition<P>) => definition;

/** The variables retry policies are read from, parsed once with the rest of the producer's environment. */
export type RetryPolicyEnv = Pick<
  BaseEnv,
  | 'DEEPLENS_STORAGE_VERIFY_ATTEMPTS'
  | 'DEEPLENS_STORAGE_VERIFY_BACKOFF_MS'
  | 'DEEPLENS_WEBHOOK_ATTEMPTS'
  | 'DEEPLENS_WEBHOOK_BACKOFF_MS'
>;

export interface RetryPolicy {
  attempts: number;
  /** `exponential-jitter` is served by the workers' custom backoff strategy (see worker.ts). */
  backoff: { type: 'exponential' | 'fixed' | 'exponential-jitter'; delay: number };
}

const fixedRetry = (attempts: number, delay: number) => (): RetryPolicy => ({
  attempts,
  backoff: { type: 'exponential', delay },
});

export const jobCatalog = {
  'tenant.provision': defineJob({
    queue: 'provisioning',
    payload: z.object({ tenantId: uuid }),
    retry: fixedRetry(5, 1_000),
    retention: tenantJobRetention,
    // One provisioning per tenant, however many times the request arrives.
    jobId: (payload) => deterministicJobId('tenant.provision', payload.tenantId),
    rerunsFailed: true,
    tenantOf: (payload) => payload.tenantId,
  }),
  'tenant.deprovision': defineJob({
    queue: 'provisioning',
    payload: z.object({ tenantId: uuid }),
    retry: fixedRetry(5, 1_000),
    retention: tenantJobRetention,
    jobId: (payload) => deterministicJobId('tenant.deprovision', payload.tenantId),
    rerunsFailed: true,
    tenantOf: (payload) => payload.tenantId,
  }),
  'storage.verify': defineJob({
    queue: 'storage',
    payload: z.object({
      tenantId: uuid,
      /** The config version to verify; a newer config makes this job a no-op. */
      configVersion: z.number().int().positive(),
      /** Distinguishes repeated on-demand tests of one config version. */
      requestId: uuid,
      reason: z.enum(['provisioned', 'changed', 'on_demand']).optional(),
    }),
    // Each job carries the policy of the process that made it (DEEPLENS_STORAGE_VERIFY_*). Only
    // network-level failures are retried: the verifier fails configuration errors at once.
    retry: (env) => ({
      attempts: env.DEEPLENS_STORAGE_VERIFY_ATTEMPTS,
      backoff: { type: 'exponential-jitter', delay: env.DEEPLENS_STORAGE_VERIFY_BACKOFF_MS },
    }),
    retention: tenantJobRetention,
    jobId: (payload) => deterministicJobId('storage.verify', payload.tenantId, payload.requestId),
    tenantOf: (payload) => payload.tenantId,
  }),
  'usage.ingest': defineJob({
    queue: 'usage',
    payload: usageIngestPayload,
    retry: fixedRetry(10, 500),
    retention: highVolumeRetention,
    jobId: () => uuidv4(),
    tenantOf: (payload) => payload.tenantId ?? null,
  }),
  'tenant.backup': defineJob({
    queue: 'provisioning',
    // The backup row (made by the API with its storage key) holds the rest.
    payload: z.object({ tenantId: uuid, backupId: uuid }),
    retry: fixedRetry(3, 5_000),
    retention: tenantJobRetention,
    jobId: (payload) => deterministicJobId('tenant.backup', payload.backupId),
    tenantOf: (payload) => payload.tenantId,
  }),
  'tenant.restore': defineJob({
    queue: 'provisioning',
    payload: z.object({ tenantId: uuid, backupId: uuid, restoreId: uuid, swap: z.boolean().optional() }),
    retry: fixedRetry(3, 5_000),
    retention: tenantJobRetention,
    jobId: (payload) => deterministicJobId('tenant.restore', payload.restoreId),
    tenantOf: (payload) => payload.tenantId,
  }),
  'platform.backup': defineJob({
    queue: 'provisioning',
    payload: z.object({ backupId: uuid }),
    retry: fixedRetry(3, 5_000),
    retention: tenantJobRetention,
    jobId: (payload) => deterministicJobId('platform.backup', payload.backupId),
    tenantOf: () => null,
  }),
  'webhook.deliver': defineJob({
    queue: 'webhooks',
    // One job per subscriber and event: the event's body is read from webhook_events.
    payload: z.object({ subscriberId: uuid, eventId: uuid }),
    retry: (env) => ({
      attempts: env.DEEPLENS_WEBHOOK_ATTEMPTS,
      backoff: { type: 'exponential-jitter', delay: env.DEEPLENS_WEBHOOK_BACKOFF_MS },
    }),
    retention: highVolumeRetention,
    jobId: (payload) => deterministicJobId('webhook.deliver', payload.subscriberId, payload.eventId),
    tenantOf: () => null,
  }),
} as const;

export type JobName = keyof typeof jobCatalog;
export type JobPayload<N extends JobName> = z.infer<(typeof jobCatalog)[N]['payload']>;
export const jobNames = Object.keys(jobCatalog) as JobName[];

export function jobNamesOf(queue: QueueName): JobName[] {
  return jobNames.filter((name) => jobCatalog[name].queue === queue);
}
