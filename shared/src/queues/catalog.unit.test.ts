import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EVENT_ROW_FIELDS, usageIngestPayloadOf } from '../usage/event-batches.js';
import { apiCallEvent } from '../testing/index.js';
import { jobCatalog, type UsageEvent } from './catalog.js';

const usageIngest = jobCatalog['usage.ingest'];
const event = (tenantId: string, overrides: Partial<UsageEvent> = {}) =>
  apiCallEvent(tenantId, overrides) as UsageEvent;

describe('the usage.ingest payload', () => {
  it('is the intake’s events as JSON rows, instants cut to milliseconds, with the count and the sole tenant', () => {
    const tenant = randomUUID();
    const { responseBytes: _, ...first } = event(tenant, { endpoint: '/v1/search?q="cats"\\dogs' });
    const payload = usageIngestPayloadOf([first, event(tenant, { occurredAt: '2026-10-31T23:59:59.9999999Z' })]);
    expect(usageIngest.payload.safeParse(payload).success).toBe(true);
    expect(payload).toMatchObject({ eventCount: 2, tenantId: tenant });
    const rows = JSON.parse('eventRows' in payload ? payload.eventRows : '[]') as unknown[][];
    // Field by field as EVENT_ROW_FIELDS names them; byte counts not sent are 0, as stored.
    expect(Object.fromEntries(EVENT_ROW_FIELDS.map((field, index) => [field, rows[0]![index]]))).toEqual({
      responseBytes: 0,
      ...first,
    });
    expect(rows[1]![EVENT_ROW_FIELDS.indexOf('occurredAt')]).toBe('2026-10-31T23:59:59.999Z');
    expect(usageIngest.tenantOf(payload)).toBe(tenant);
    expect(usageIngest.tenantOf(usageIngestPayloadOf([event(tenant), event(randomUUID())]))).toBeNull();
  });

  it('refuses text that is not a JSON array, a count out of range and a tenant that is not a uuid', () => {
    const good = { eventRows: '[]', eventCount: 1 };
    expect(usageIngest.payload.safeParse(good).success).toBe(true);
    for (const bad of [
      { ...good, eventRows: '{"eventId":1}' },
      { ...good, eventRows: '' },
      { ...good, eventCount: 0 },
      { ...good, eventCount: 10_001 },
      { ...good, tenantId: 'acme' },
      { eventCount: 1 },
      // The shapes of earlier versions are no longer accepted.
      { eventsJson: '[]', eventCount: 1 },
      { events: [] },
    ]) {
      expect(usageIngest.payload.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });
});
