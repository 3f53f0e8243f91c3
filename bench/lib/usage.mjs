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
