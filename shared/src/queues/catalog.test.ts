import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { usageIngestPayloadOf } from '../usage/event-batches.js';
import { jobCatalog, type UsageEvent } from './catalog.js';

const usageIngest = jobCatalog['usage.ingest'];
const event = (tenantId: string, occurredAt = '2026-11-28T10:00:00.000Z'): UsageEvent => ({
  eventId: randomUUID(),
  tenantId,
  endpoint: '/v1/search',
  method: 'GET',
  statusCode: 200,
  durationMs: 12,
  occurredAt,
});

describe('the usage.ingest payload', () => {
  it('is the intake’s JSON text, instants cut to milliseconds, with the count and the sole tenant', () => {
    const tenant = randomUUID();
    const payload = usageIngestPayloadOf([event(tenant), event(tenant, '2026-10-31T23:59:59.9999999Z')]);
    expect(usageIngest.payload.safeParse(payload).success).toBe(true);
    expect(payload).toMatchObject({ eventCount: 2, tenantId: tenant });
    expect(JSON.parse('eventsJson' in payload ? payload.eventsJson : '[]')[1].occurredAt).toBe('2026-10-31T23:59:59.999Z');
    expect(usageIngest.tenantOf(payload)).toBe(tenant);
    expect(usageIngest.tenantOf(usageIngestPayloadOf([event(tenant), event(randomUUID())]))).toBeNull();
  });

  it('still accepts the previous shape, checked event by event', () => {
    const tenant = randomUUID();
    expect(usageIngest.payload.safeParse({ events: [event(tenant)] }).success).toBe(true);
    expect(usageIngest.tenantOf({ events: [event(tenant)] })).toBe(tenant);
    expect(usageIngest.payload.safeParse({ events: [{ ...event(tenant), statusCode: 99 }] }).success).toBe(false);
    expect(usageIngest.payload.safeParse({ events: [] }).success).toBe(false);
  });

  it('refuses text that is not a JSON array, a count out of range and a tenant that is not a uuid', () => {
    const good = { eventsJson: '[]', eventCount: 1 };
    expect(usageIngest.payload.safeParse(good).success).toBe(true);
    for (const bad of [
      { ...good, eventsJson: '{"eventId":1}' },
      { ...good, eventsJson: '' },
      { ...good, eventCount: 0 },
      { ...good, eventCount: 10_001 },
      { ...good, tenantId: 'acme' },
      { eventCount: 1 },
    ]) {
      expect(usageIngest.payload.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });
});
