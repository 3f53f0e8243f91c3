import { sleep } from './stack.mjs';

/** What the usage counters show for these tenants together this month (GET /v1/tenants/:id/usage). */
export async function usedBy(ctx, tenantIds) {
  const answers = await Promise.all(tenantIds.map((id) => ctx.call('GET', `/v1/tenants/${id}/usage`)));
  return answers.reduce((sum, answer) => sum + (answer.body?.apiCalls?.used ?? 0), 0);
}

/** true once the usage queue holds nothing waiting, active or delayed (GET /v1/status); undefined before. */
export async function usageQueueIdle(ctx) {
  const { body } = await ctx.call('GET', '/v1/status');
  const usage = body?.queues?.usage;
  return usage && usage.waiting + usage.active + usage.delayed === 0 ? true : undefined;
}

/**
 * Waits until the usage counters of these tenants show `expected`, looking
 * every `intervalMs()` ms (a function, so a caller can look rarely while its
 * load still runs); `onLook(seen)` sees every look. Throws if more were
 * counted (not exactly once) or after 10 minutes. Resolves when it is seen.
 */
export async function untilCounted(ctx, tenantIds, expected, { intervalMs = () => 100, onLook = () => {} } = {}) {
  const deadline = Date.now() + 600_000;
  for (;;) {
    await sleep(intervalMs());
    const seen = await usedBy(ctx, tenantIds);
    onLook(seen);
    if (seen > expected) throw new Error(`counted ${seen}, expected ${expected}: not exactly once`);
    if (seen === expected) return;
    if (Date.now() > deadline) throw new Error(`only ${seen} of ${expected} counted after 10 minutes`);
  }
}
