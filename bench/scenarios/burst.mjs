import { inParallel, round, tenantName, waitForJob } from '../lib/tenants.mjs';

/** 100 tenants asked for at once: every one must end active, none failed. */
export async function burst(ctx) {
  const count = ctx.quick ? 25 : 100;
  const started = performance.now();
  ctx.progress(`posting ${count} tenants at once`);
  const created = await Promise.all(
    Array.from({ length: count }, () =>
      ctx.call('POST', '/v1/tenants', { name: tenantName('burst'), plan: 'premium' }),
    ),
  );
  const refused = created.filter((response) => response.status !== 202);
  let finished = 0;
  const jobs = await inParallel(created.length - refused.length, 20, async (i) => {
    const job = await waitForJob(ctx.call, created.filter((r) => r.status === 202)[i].body.jobId, { intervalMs: 100 });
    finished += 1;
    if (finished % 10 === 0) ctx.progress(`${finished}/${count} jobs finished`);
    return job;
  });
  const seconds = (performance.now() - started) / 1000;
  const completed = jobs.filter((job) => job.state === 'completed').length;
  const list = await ctx.call('GET', '/v1/status');
  const failed = jobs.length - completed + refused.length;
  return {
    count,
    completed,
    failed,
    refused: refused.length,
    seconds: round(seconds),
    tenantsPerSecond: round(count / seconds),
    statusByStatus: list.body?.tenants?.byStatus,
    errors: jobs
      .filter((job) => job.state !== 'completed')
      .map((job) => job.error)
      .slice(0, 5),
    rows: [
      {
        metric: `${count} tenants at once`,
        value: `${completed}/${count} active in ${round(seconds, 1)} s`,
        baseline: '—',
        ratio: null,
        target: 'all active, none failed',
        pass: completed === count && failed === 0,
      },
    ],
  };
}
