import { soleTenantOf, type UsageEvent, type UsageIngestPayload } from '../queues/catalog.js';
import { normaliseInstant } from './periods.js';

/** More than three fractional digits: PostgreSQL would round them, possibly into the next month. */
const SUB_MILLISECOND = /\.\d{4}/;

/** The events as stored: instants at millisecond precision (normaliseInstant), copied only where needed. */
export function eventsAsStored(events: readonly UsageEvent[]): readonly UsageEvent[] {
  if (!events.some((event) => SUB_MILLISECOND.test(event.occurredAt))) return events;
  return events.map((event) =>
    SUB_MILLISECOND.test(event.occurredAt) ? { ...event, occurredAt: normaliseInstant(event.occurredAt) } : event,
  );
}

/** A usage.ingest payload for events already checked (the intake's): their JSON text, as stored. */
export function usageIngestPayloadOf(events: readonly UsageEvent[]): UsageIngestPayload {
  return { eventsJson: JSON.stringify(eventsAsStored(events)), eventCount: events.length, tenantId: soleTenantOf(events) };
}

/** A usage.ingest job's events as JSON text and their number, from either payload shape. */
export function eventsJsonOf(payload: UsageIngestPayload): { json: string; count: number } {
  if ('eventsJson' in payload) return { json: payload.eventsJson, count: payload.eventCount };
  return { json: JSON.stringify(eventsAsStored(payload.events)), count: payload.events.length };
}
