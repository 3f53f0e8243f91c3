import { runLoad } from '../lib/load.mjs';
import { SERVICE_TOKEN } from '../lib/stack.mjs';
import { ensureLoadTenants, round } from '../lib/tenants.mjs';

/** GET /v1/tenants/:id/quota (rotating over tenants), 50 connections, against the hello-world GET. Two rounds. */
export async function quota(ctx) {
  const tenantIds = await ensureLoadTenants(ctx);
  const settings = { connections: 50, duration: ctx.quick ? 5 : 10, warmup: ctx.quick ? 1 : 2 };
  const rounds = [];
  for (let r = 1; r <= 2; r += 1) {
    ctx.progress(`round ${r}/2: hello-world GET`);
    const hello = await runLoad({ ...settings, url: `${ctx.hello.url}/hello` });
    ctx.progress(`round ${r}/2: GET /v1/tenants/:id/quota`);
    const api = await runLoad({
      ...settings,
      url: ctx.apiUrl,
      headers: { authorization: `Bearer ${SERVICE_TOKEN}` },
      body: { kind: 'paths', paths: tenantIds.map((id) => `/v1/tenants/${id}/quota`) },
    });
    rounds.push({
      helloRps: round(hello.requestsPerSecond, 0),
      apiRps: round(api.requestsPerSecond, 0),
      ratio: round(api.requestsPerSecond / hello.requestsPerSecond),
      apiLatencyMs: api.latencyMs,
      helloLatencyMs: hello.latencyMs,
      apiNon2xx: api.non2xx,
      apiErrors: api.errors + api.timeouts,
    });
  }
  return {
    rounds,
    rows: rounds.flatMap((result, index) => [
      {
        metric: `quota check req/s, round ${index + 1}`,
        value: `${result.apiRps} req/s`,
        baseline: `hello GET ${result.helloRps} req/s`,
        ratio: result.ratio,
        target: '≥ 0.6×',
        pass: result.ratio >= 0.6 && result.apiNon2xx === 0 && result.apiErrors === 0,
      },
      {
        metric: `quota check p99, round ${index + 1}`,
        value: `${result.apiLatencyMs.p99} ms`,
        baseline: `hello p99 ${result.helloLatencyMs.p99} ms`,
        ratio: null,
        target: '≤ 5 ms',
        pass: result.apiLatencyMs.p99 <= 5,
      },
    ]),
  };
}
