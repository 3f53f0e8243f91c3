import { randomUUID } from 'node:crypto';

/**
 * A valid API-call event for the tests, new eventId each call, now as its
 * instant; `overrides` replace or add fields (tests of refusals make it
 * invalid on purpose, so the result is not typed as an ApiCallEvent).
 */
export function apiCallEvent(tenantId: string, overrides: Record<string, unknown> = {}) {
  return {
    eventId: randomUUID(),
    tenantId,
    endpoint: '/v1/search',
    method: 'GET',
    statusCode: 200,
    durationMs: 12,
    requestBytes: 512,
    responseBytes: 2048,
    occurredAt: new Date().toISOString(),
    ...overrides,
  };
}
