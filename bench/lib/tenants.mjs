import { randomBytes } from 'node:crypto';
import { sleep } from './stack.mjs';

export const tenantName = (base) => `${base}-${randomBytes(4).toString('hex')}`;

/** Polls a job as a client would (GET /v1/jobs/:id) until it is completed or failed. */
export async function waitForJob(call, jobId, { intervalMs = 5, timeoutMs = 600_000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { status, body } = await call('GET', `/v1/jobs/${jobId}`);
    if (status === 200 && (body.state === 'completed' || body.state === 'failed')) return body;
    if (Date.now() > deadline) throw new Error(`job ${jobId} did not finish (last: ${status} ${JSON.stringify(body)})`);
    await sleep(intervalMs);
  }
}

/** POST /v1/tenants and wait for its job: the provisioning time a client sees, and the job's own. */
export async function provisionTenant(call, name, { plan = 'enterprise', pollMs = 5 } = {}) {
  const started = performance.now();
  const created = await call('POST', '/v1/tenants', { name, plan });
  const acceptedMs = performance.now() - started;
  if (created.status !== 202)
    throw new Error(`POST /v1/tenants answered ${created.status}: ${JSON.stringify(created.body)}`);
  const job = await waitForJob(call, created.body.jobId, { intervalMs: pollMs });
  const clientMs = performance.now() - started;
  return {
    tenantId: created.body.tenantId,
    jobId: created.body.jobId,
    state: job.state,
    error: job.error,
    clientMs,
    acceptedMs,
    jobMs: Date.parse(job.finishedAt) - Date.parse(job.createdAt),
  };
}

/** Runs `work(i)` for i < count with at most `limit` at once. */
export async function inParallel(count, limit, work) {
  let next = 0;
  const results = new Array(count);
  await Promise.all(
    Array.from({ length: Math.min(limit, count) }, async () => {
      for (let i = next++; i < count; i = next++) results[i] = await work(i);
    }),
  );
  return results;
}

/** Active tenants kept for the load scenarios, provisioned once per run. */
export async function ensureLoadTenants(ctx, count = 10) {
  if (ctx.loadTenants.length >= count) return ctx.loadTenants.slice(0, count);
  const missing = count - ctx.loadTenants.length;
  const made = await inParallel(missing, 4, () => provisionTenant(ctx.call, tenantName('load'), { pollMs: 50 }));
  for (const tenant of made) {
    if (tenant.state !== 'completed')
      throw new Error(`a load tenant failed to provision: ${JSON.stringify(tenant.error)}`);
    ctx.loadTenants.push(tenant.tenantId);
  }
  return ctx.loadTenants.slice(0, count);
}

export const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

export const round = (value, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;
