import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EVENT_ROW_FIELDS, eventRowsOf, usageIngestPayloadOf } from '../usage/event-batches.js';
import { apiCallEvent } from '../testing/index.js';
import { jobCatalog, type UsageEvent } from './catalog.js';

const usageIngest = jobCatalog['usage.ingest'];
const event = (tenantId: string, overrides: Partial<UsageEvent> = {}) => apiCallEvent(tenantId, overrides) as UsageEvent;

describe('the usage.ingest payload', () => {
  it('is the intake’s events as JSON rows, instants cut to milliseconds, with the count and the sole tenant', () => {
    const tenant = randomUUID();
    const { responseBytes: _, ...first } = event(tenant, { endpoint: '/v1/search?q="cats"\\dogs' });
    const payload = usageIngestPayloadOf([first, event(tenant, { occurredAt: '2026-10-31T23:59:59.9999999Z' })]);
    expect(usageIngest.payload.safeParse(payload).success).toBe(true);
    expect(payload).toMatchObject({ eventCount: 2, tenantId: tenant });
    const rows = JSON.parse('eventRows' in payload ? payload.eventRows : '[]') as unknown[][];
    // Field by field as EVENT_ROW_FIELDS names them; byte counts not sent are 0, as stored.
    expect(Object.fromEntries(EVENT_ROW_FIELDS.map((field, index) => [field, rows[0]![index]]))).toEqual({ responseBytes: 0, ...first });
    expect(rows[1]![EVENT_ROW_FIELDS.indexOf('occurredAt')]).toBe('2026-10-31T23:59:59.999Z');
    expect(usageIngest.tenantOf(payload)).toBe(tenant);
    expect(usageIngest.tenantOf(usageIngestPayloadOf([event(tenant), event(randomUUID())]))).toBeNull();
  });

  it('rewrites the payloads of earlier versions as the same rows, and refuses an invalid event among them', () => {
    const tenant = randomUUID();
    const events = [event(tenant), event(tenant, { occurredAt: '2026-10-31T23:59:59.9999999Z' })];
    const current = eventRowsOf(usageIngestPayloadOf(events));
    const previous = { eventsJson: JSON.stringify(events), eventCount: 2, tenantId: tenant };
    expect(usageIngest.payload.safeParse(previous).success).toBe(true);
    expect(usageIngest.tenantOf(previous)).toBe(tenant);
    expect(eventRowsOf(previous)).toEqual(current);
    expect(eventRowsOf({ events })).toEqual(current);
    const forged = { eventsJson: JSON.stringify([{ ...events[0], eventId: 'x","y' }]), eventCount: 1 };
    expect(usageIngest.payload.safeParse(forged).success).toBe(true); // its shape is all the catalog checks
    expect(() => eventRowsOf(forged)).toThrow(/not a valid API-call event/);
  });

  it('still accepts the previous shape, checked event by event', () => {
    const tenant = randomUUID();
    expect(usageIngest.payload.safeParse({ events: [event(tenant)] }).success).toBe(true);
    expect(usageIngest.tenantOf({ events: [event(tenant)] })).toBe(tenant);
    expect(usageIngest.payload.safeParse({ events: [{ ...event(tenant), statusCode: 99 }] }).success).toBe(false);
    expect(usageIngest.payload.safeParse({ events: [] }).success).toBe(false);
  });

  it('refuses text that is not a JSON array, a count out of range and a tenant that is not a uuid', () => {
    for (const key of ['eventRows', 'eventsJson']) {
      const good = { [key]: '[]', eventCount: 1 };
      expect(usageIngest.payload.safeParse(good).success).toBe(true);
      for (const bad of [
        { ...good, [key]: '{"eventId":1}' },
        { ...good, [key]: '' },
        { ...good, eventCount: 0 },
        { ...good, eventCount: 10_001 },
        { ...good, tenantId: 'acme' },
        { eventCount: 1 },
      ]) {
        expect(usageIngest.payload.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
      }
    }
  });
});
