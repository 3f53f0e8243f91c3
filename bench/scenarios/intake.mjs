import { runLoad } from '../lib/load.mjs';
import { SERVICE_TOKEN } from '../lib/stack.mjs';
import { ensureLoadTenants, round } from '../lib/tenants.mjs';

/**
 * POST /v1/events/api-calls, one new event per request, 50 connections,
 * against the hello-world POST with the same generator, bodies and settings.
 * Two rounds, each hello then API.
 */
export async function intake(ctx) {
  const tenantIds = await ensureLoadTenants(ctx);
  const settings = { connections: 50, duration: ctx.quick ? 5 : 10, warmup: ctx.quick ? 1 : 2, method: 'POST' };
  const body = { kind: 'event', tenantIds };
  const rounds = [];
  for (let r = 1; r <= 2; r += 1) {
    ctx.progress(`round ${r}/2: hello-world POST`);
    const hello = await runLoad({ ...settings, url: `${ctx.hello.url}/hello`, body });
    ctx.progress(`round ${r}/2: POST /v1/events/api-calls`);
    const api = await runLoad({
      ...settings,
      url: `${ctx.apiUrl}/v1/events/api-calls`,
      headers: { authorization: `Bearer ${SERVICE_TOKEN}` },
      body,
    });
    rounds.push({
      helloRps: round(hello.requestsPerSecond, 0),
      apiRps: round(api.requestsPerSecond, 0),
      ratio: round(api.requestsPerSecond / hello.requestsPerSecond),
      apiLatencyMs: api.latencyMs,
      helloLatencyMs: hello.latencyMs,
      apiNon2xx: api.non2xx,
      apiErrors: api.errors + api.timeouts,
      apiStatusCodes: api.statusCodes,
    });
  }
  return {
    rounds,
    rows: rounds.map((result, index) => ({
      metric: `single-event intake req/s, round ${index + 1}`,
      value: `${result.apiRps} req/s (p99 ${result.apiLatencyMs.p99} ms)`,
      baseline: `hello POST ${result.helloRps} req/s`,
      ratio: result.ratio,
      target: '≥ 0.4×',
      pass: result.ratio >= 0.4 && result.apiNon2xx === 0 && result.apiErrors === 0,
    })),
  };
}
