import { soleTenantOf, type UsageEvent, type UsageIngestPayload } from '../queues/catalog.js';
import { normaliseInstant } from './periods.js';

/** More than three fractional digits: PostgreSQL would round them, possibly into the next month. */
const SUB_MILLISECOND = /\.\d{4}/;

/**
 * The fields of an event row, in order: a usage.ingest job carries each event
 * as a JSON array of these (`eventRows`), and the aggregator's statement reads
 * them back by position. Optional byte counts are written as 0, as stored.
 */
export const EVENT_ROW_FIELDS = [
  'eventId',
  'tenantId',
  'endpoint',
  'method',
  'statusCode',
  'durationMs',
  'requestBytes',
  'responseBytes',
  'occurredAt',
] as const satisfies ReadonlyArray<keyof UsageEvent>;

/**
 * One event's row as JSON text, for an event that passed the contract's check:
 * uuids, the method (letters) and the instant (digits and ISO separators) hold
 * nothing JSON would escape, so only the endpoint, free text, goes through
 * JSON.stringify, and integers print as integers. A row is about half the
 * bytes of the event's object (no keys), so the queue, the job's escaped copy
 * in Redis and PostgreSQL's parse all shrink with it.
 */
function eventRowJson(event: UsageEvent): string {
  const occurredAt = SUB_MILLISECOND.test(event.occurredAt) ? normaliseInstant(event.occurredAt) : event.occurredAt;
  return (
    `["${event.eventId}","${event.tenantId}",${JSON.stringify(event.endpoint)},"${event.method}",` +
    `${event.statusCode},${event.durationMs},${event.requestBytes ?? 0},${event.responseBytes ?? 0},"${occurredAt}"]`
  );
}

/** Checked events as the JSON text of an array of rows (EVENT_ROW_FIELDS), instants at millisecond precision. */
function eventRowsJsonOf(events: readonly UsageEvent[]): string {
  let text = '[';
  for (let index = 0; index < events.length; index += 1) {
    if (index > 0) text += ',';
    text += eventRowJson(events[index]!);
  }
  return `${text}]`;
}

/** A usage.ingest payload for events already checked (the intake's). */
export function usageIngestPayloadOf(events: readonly UsageEvent[]): UsageIngestPayload {
  return { eventRows: eventRowsJsonOf(events), eventCount: events.length, tenantId: soleTenantOf(events) };
}

/** A usage.ingest job's rows as JSON text and their number. */
export function eventRowsOf(payload: UsageIngestPayload): { json: string; count: number } {
  return { json: payload.eventRows, count: payload.eventCount };
}
