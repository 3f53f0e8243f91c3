// Runs one autocannon load in this process and prints its figures as one JSON
// line. Started by load.mjs as a child process, so the load generator never
// shares an event loop (or a core's scheduling slot) with the bench driver.
import { randomUUID } from 'node:crypto';
import autocannon from 'autocannon';

const spec = JSON.parse(process.argv[2]);

// An event's JSON text from a template: building objects and stringifying them cost the load
// generator more CPU than some of the routes it measures, on the machine they share.
const eventJson = (tenantId, occurredAt) =>
  `{"eventId":"${randomUUID()}","tenantId":"${tenantId}","endpoint":"/v1/search","method":"GET","statusCode":200,` +
  `"durationMs":12,"requestBytes":512,"responseBytes":2048,"occurredAt":"${occurredAt}"}`;

let turn = 0;
const next = (list) => list[turn++ % list.length];

function setupRequest(request) {
  const body = spec.body;
  if (!body) return request;
  if (body.kind === 'paths') return { ...request, path: next(body.paths) };
  if (body.kind === 'event') {
    const now = new Date().toISOString();
    const payload = body.batch
      ? `{"events":[${Array.from({ length: body.batch }, () => eventJson(next(body.tenantIds), now)).join(',')}]}`
      : eventJson(next(body.tenantIds), now);
    return { ...request, body: payload };
  }
  return request;
}

/** The p-th percentile (0-100) of the measured responses' times, in ms; autocannon reports p90 and p97.5, not p95. */
function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

// Called without a callback on purpose: autocannon 8 runs the warm-up only in its promise form
// (with a callback the warmup option is ignored), and its 'response' events then come from the
// measured run alone.
const instance = autocannon({
  url: spec.url,
  method: spec.method ?? 'GET',
  connections: spec.connections,
  ...(spec.amount ? { amount: spec.amount } : { duration: spec.duration }),
  ...(spec.warmup ? { warmup: { connections: spec.connections, duration: spec.warmup } } : {}),
  headers: { ...(spec.body?.kind === 'event' ? { 'content-type': 'application/json' } : {}), ...spec.headers },
  requests: [{ setupRequest }],
  timeout: 10,
});
const responseTimes = [];
instance.on('response', (_client, _statusCode, _bytes, responseTime) => responseTimes.push(responseTime));
instance.then(
  (result) => {
    const sorted = Float64Array.from(responseTimes).sort();
    const out = {
      requests: result.requests.total,
      requestsPerSecond: result.requests.average,
      durationSeconds: result.duration,
      latencyMs: {
        p50: result.latency.p50,
        p90: result.latency.p90,
        // Exact, from every measured response (autocannon's own figures come from its histogram, 2xx only).
        p95: Math.round((percentile(sorted, 95) ?? 0) * 100) / 100,
        p97_5: result.latency.p97_5,
        p99: result.latency.p99,
        max: result.latency.max,
        mean: result.latency.mean,
      },
      ok: result['2xx'],
      non2xx: result.non2xx,
      errors: result.errors,
      timeouts: result.timeouts,
      statusCodes: result.statusCodeStats,
      start: result.start,
      finish: result.finish,
    };
    // Computed from the total when the run was by amount, where autocannon's per-second average is coarse.
    if (spec.amount)
      out.requestsPerSecond = result.requests.total / ((new Date(result.finish) - new Date(result.start)) / 1000);
    process.stdout.write(`${JSON.stringify(out)}\n`);
  },
  (error) => {
    process.stdout.write(`${JSON.stringify({ error: error.message })}\n`);
    process.exit(1);
  },
);
process.once('SIGTERM', () => instance.stop());
