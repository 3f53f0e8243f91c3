import type { Redis } from 'ioredis';
import { v5 as uuidv5 } from 'uuid';
import { z } from 'zod';

/**
 * Domain events: facts other services may react to, on one Redis stream per
 * installation, `<queue prefix>:events`. Each entry has two fields: `type`
 * (to filter without parsing) and `event`, the JSON envelope below. The
 * envelope is versioned; consumers ignore versions and types they do not
 * know. Delivery is at least once: a consumer de-duplicates on `id`.
 */

const DOMAIN_EVENT_VERSION = 1 as const;
export const DEFAULT_STREAM_MAX_LENGTH = 100_000;

export const domainEventsStream = (queuePrefix: string) => `${queuePrefix}:events`;

const quotaLimitNames = ['apiCalls', 'storageBytes', 'collections'] as const;
export type QuotaLimitName = (typeof quotaLimitNames)[number];

const quotaEventData = z.object({
  /** The limit crossed, named as in the usage API. */
  limit: z.enum(quotaLimitNames),
  /** Percent of the limit reached: 80 is a warning, 100 means the limit is used up. */
  threshold: z.union([z.literal(80), z.literal(100)]),
  /** The UTC month, YYYY-MM. */
  period: z.string().regex(/^\d{4}-\d{2}$/),
  used: z.number().int().nonnegative(),
  limitValue: z.number().int().nonnegative(),
});

const envelope = <T extends string, D extends z.ZodTypeAny>(type: T, data: D) =>
  z.object({
    type: z.literal(type),
    version: z.literal(DOMAIN_EVENT_VERSION),
    id: z.string().uuid(),
    occurredAt: z.string().datetime({ offset: true }),
    tenantId: z.string().uuid().nullable(),
    data,
  });

const errorData = z.object({ code: z.string(), message: z.string() });

const tenantProvisionedData = z.object({ name: z.string(), plan: z.string(), database: z.string() });
const tenantProvisioningFailedData = z.object({ name: z.string(), error: errorData });
const tenantDeprovisionedData = z.object({ name: z.string(), databases: z.array(z.string()) });
const storageVerifiedData = z.object({
  provider: z.string(),
  configVersion: z.number().int().positive(),
  /** The storage.verify job, as in GET /v1/jobs/:id. */
  jobId: z.string(),
  totalMs: z.number().int().nonnegative(),
});
const storageVerificationFailedData = storageVerifiedData.omit({ totalMs: true }).extend({ error: errorData });

/** Every domain event the platform publishes, by type. */
export const domainEventSchemas = {
  'quota.warning': envelope('quota.warning', quotaEventData),
  'quota.exceeded': envelope('quota.exceeded', quotaEventData),
  'tenant.provisioned': envelope('tenant.provisioned', tenantProvisionedData),
  'tenant.provisioning_failed': envelope('tenant.provisioning_failed', tenantProvisioningFailedData),
  'tenant.deprovisioned': envelope('tenant.deprovisioned', tenantDeprovisionedData),
  'storage.verified': envelope('storage.verified', storageVerifiedData),
  'storage.verification_failed': envelope('storage.verification_failed', storageVerificationFailedData),
} as const;

export const domainEventTypes = Object.keys(domainEventSchemas) as Array<keyof typeof domainEventSchemas>;

export type DomainEventType = keyof typeof domainEventSchemas;
export type DomainEvent<T extends DomainEventType = DomainEventType> = z.infer<(typeof domainEventSchemas)[T]>;

/** Builds an envelope, checked against its schema so a publisher cannot drift from it. */
export function domainEvent<T extends DomainEventType>(
  type: T,
  fields: { id: string; occurredAt: string; tenantId: string | null; data: DomainEvent<T>['data'] },
): DomainEvent<T> {
  return domainEventSchemas[type].parse({ type, version: DOMAIN_EVENT_VERSION, ...fields }) as DomainEvent<T>;
}

const EVENT_ID_NAMESPACE = '6f1d3c2a-9b7e-4e8f-a1d2-3c4b5a697887';

/**
 * The stable id of the event `type` about `parts` (a tenant id, a job id…):
 * derived from the fact (uuid v5), so a retried job records the same event
 * once and consumers can de-duplicate what a crash publishes twice.
 */
export const domainEventId = (type: DomainEventType, ...parts: string[]) =>
  uuidv5([type, ...parts].join('/'), EVENT_ID_NAMESPACE);

/** Builds an event whose id is derived from its type and `parts`, dated now. */
export function factEvent<T extends DomainEventType>(
  type: T,
  parts: string[],
  tenantId: string | null,
  data: DomainEvent<T>['data'],
): DomainEvent<T> {
  return domainEvent(type, { id: domainEventId(type, ...parts), occurredAt: new Date().toISOString(), tenantId, data });
}

/**
 * Appends events to the stream in one round trip. The stream is capped
 * (approximately, which Redis trims cheaply) so it cannot grow without bound;
 * consumers that fall further behind than the cap lose the oldest entries.
 * Returns the stream ids, in order.
 */
export async function publishDomainEvents(
  redis: Redis,
  queuePrefix: string,
  events: readonly DomainEvent[],
  { maxLength = DEFAULT_STREAM_MAX_LENGTH }: { maxLength?: number } = {},
): Promise<string[]> {
  if (events.length === 0) return [];
  const stream = domainEventsStream(queuePrefix);
  const pipeline = redis.pipeline();
  for (const event of events) {
    pipeline.xadd(stream, 'MAXLEN', '~', String(maxLength), '*', 'type', event.type, 'event', JSON.stringify(event));
  }
  const results = (await pipeline.exec()) ?? [];
  return results.map(([error, id]) => {
    if (error) throw error;
    return id as string;
  });
}

/**
 * Parses one stream entry's fields. Unknown types or versions come back as
 * null, so a consumer built today keeps working when new events appear.
 */
export function parseDomainEvent(fields: readonly string[]): DomainEvent | null {
  const index = fields.indexOf('event');
  if (index < 0 || index % 2 !== 0) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(fields[index + 1] ?? '');
  } catch {
    return null;
  }
  const type = (raw as { type?: unknown })?.type;
  if (typeof type !== 'string' || !Object.hasOwn(domainEventSchemas, type)) return null;
  const parsed = domainEventSchemas[type as DomainEventType].safeParse(raw);
  return parsed.success ? parsed.data : null;
}

/** Reads events after `afterId` (exclusive; "0" for the start), for consumers and tests. */
export async function readDomainEvents(
  redis: Redis,
  queuePrefix: string,
  { afterId = '0', count = 1_000 }: { afterId?: string; count?: number } = {},
): Promise<Array<{ streamId: string; event: DomainEvent }>> {
  const entries = await redis.xrange(
    domainEventsStream(queuePrefix),
    afterId === '0' ? '-' : `(${afterId}`,
    '+',
    'COUNT',
    count,
  );
  return entries.flatMap(([streamId, fields]) => {
    const event = parseDomainEvent(fields);
    return event ? [{ streamId, event }] : [];
  });
}
