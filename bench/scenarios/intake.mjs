import { runLoad } from '../lib/load.mjs';
import { SERVICE_TOKEN, waitFor } from '../lib/stack.mjs';
import { ensureLoadTenants, round } from '../lib/tenants.mjs';
import { usageQueueIdle } from '../lib/usage.mjs';

/**
 * POST /v1/events/api-calls, one new event per request, 50 connections,
 * against the hello-world POST with the same generator, bodies and settings.
 * Two rounds, each hello then API. Each measurement starts with the usage
 * queue empty, so neither side runs beside the other's leftover work; after
 * each API round the time until the aggregator has counted every accepted
 * event is recorded too (it works in the background, at a lower CPU
 * priority: DEEPLENS_CPU_NICENESS). A last, informational round measures the
 * API with the aggregator stopped (its events counted after it restarts):
 * what the API itself takes when counting does not share the cores.
 */
export async function intake(ctx) {
  const tenantIds = await ensureLoadTenants(ctx);
  const settings = { connections: 50, duration: ctx.quick ? 5 : 10, warmup: ctx.quick ? 1 : 2, method: 'POST' };
  const body = { kind: 'event', tenantIds };
  const idle = () =>
    waitFor(() => usageQueueIdle(ctx), { what: 'an idle usage queue', intervalMs: 100, timeoutMs: 600_000 });
  const helloLoad = () => runLoad({ ...settings, url: `${ctx.hello.url}/hello`, body });
  const apiLoad = () =>
    runLoad({
      ...settings,
      url: `${ctx.apiUrl}/v1/events/api-calls`,
      headers: { authorization: `Bearer ${SERVICE_TOKEN}` },
      body,
    });
  const rounds = [];
  for (let r = 1; r <= 2; r += 1) {
    await idle();
    ctx.progress(`round ${r}/2: hello-world POST`);
    const hello = await helloLoad();
    ctx.progress(`round ${r}/2: POST /v1/events/api-calls`);
    const api = await apiLoad();
    const loadEnded = performance.now();
    ctx.progress(`round ${r}/2: waiting for the aggregator to count every accepted event`);
    await idle();
    rounds.push({
      helloRps: round(hello.requestsPerSecond, 0),
      apiRps: round(api.requestsPerSecond, 0),
      ratio: round(api.requestsPerSecond / hello.requestsPerSecond),
      apiLatencyMs: api.latencyMs,
      helloLatencyMs: hello.latencyMs,
      apiNon2xx: api.non2xx,
      apiErrors: api.errors + api.timeouts,
      apiStatusCodes: api.statusCodes,
      countedSecondsAfterLoad: round((performance.now() - loadEnded) / 1000, 1),
    });
  }
  // Information: the same load with the aggregator stopped (counted after it restarts), which is
  // what the API itself takes when counting does not share the machine's cores with it.
  await idle();
  ctx.progress('alone: hello-world POST');
  const helloAlone = await helloLoad();
  await ctx.services['usage-aggregator'].stop();
  ctx.progress('alone: POST /v1/events/api-calls with the aggregator stopped');
  const apiAlone = await apiLoad();
  await ctx.restart('usage-aggregator');
  await idle();
  const alone = {
    helloRps: round(helloAlone.requestsPerSecond, 0),
    apiRps: round(apiAlone.requestsPerSecond, 0),
    ratio: round(apiAlone.requestsPerSecond / helloAlone.requestsPerSecond),
    apiLatencyMs: apiAlone.latencyMs,
    apiNon2xx: apiAlone.non2xx,
  };
  return {
    rounds,
    alone,
    rows: [
      ...rounds.map((result, index) => ({
        metric: `single-event intake req/s, round ${index + 1}`,
        value: `${result.apiRps} req/s (p99 ${result.apiLatencyMs.p99} ms; all counted ${result.countedSecondsAfterLoad} s after)`,
        baseline: `hello POST ${result.helloRps} req/s`,
        ratio: result.ratio,
        target: '≥ 0.4×',
        pass: result.ratio >= 0.4 && result.apiNon2xx === 0 && result.apiErrors === 0,
      })),
      {
        metric: 'single-event intake req/s, aggregator stopped (info)',
        value: `${alone.apiRps} req/s (p99 ${alone.apiLatencyMs.p99} ms)`,
        baseline: `hello POST ${alone.helloRps} req/s`,
        ratio: alone.ratio,
        target: '—',
        pass: alone.apiNon2xx === 0,
      },
    ],
  };
}
