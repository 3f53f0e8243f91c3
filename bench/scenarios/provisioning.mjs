import pg from 'pg';
import { platformNames } from '@deeplens/shared';
import { withAdmin } from '../lib/stack.mjs';
import { median, provisionTenant, round, tenantName } from '../lib/tenants.mjs';

/**
 * POST /v1/tenants → job completed, against a raw CREATE DATABASE … TEMPLATE
 * of the same template, interleaved (raw, provision, raw, provision…) so both
 * see the same machine. Two rounds, each with its own medians.
 */
export async function provisioning(ctx) {
  const samples = ctx.quick ? 5 : 11;
  const template = platformNames(ctx.env.DEEPLENS_DB_PREFIX).templateDatabase;
  const rounds = [];
  await withAdmin(ctx.env.DATABASE_URL, async (admin) => {
    for (let r = 1; r <= 2; r += 1) {
      const raw = [];
      const client = [];
      const job = [];
      for (let i = 0; i < samples; i += 1) {
        ctx.progress(`round ${r}/2, sample ${i + 1}/${samples}`);
        const database = `${ctx.env.DEEPLENS_DB_PREFIX}raw_clone_${r}_${i}`;
        const started = performance.now();
        await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(database)} TEMPLATE ${pg.escapeIdentifier(template)}`);
        raw.push(performance.now() - started);
        await admin.query(`DROP DATABASE ${pg.escapeIdentifier(database)}`);
        const made = await provisionTenant(ctx.call, tenantName('prov'));
        if (made.state !== 'completed') throw new Error(`provisioning failed: ${JSON.stringify(made.error)}`);
        ctx.loadTenants.push(made.tenantId);
        client.push(made.clientMs);
        job.push(made.jobMs);
      }
      const rawMedian = median(raw);
      rounds.push({
        rawCloneMedianMs: round(rawMedian),
        provisionMedianMs: round(median(client)),
        jobMedianMs: round(median(job)),
        ratio: round(median(client) / rawMedian),
        rawSamplesMs: raw.map((v) => round(v, 1)),
        provisionSamplesMs: client.map((v) => round(v, 1)),
      });
    }
  });
  return {
    rounds,
    rows: rounds.map((result, index) => ({
      metric: `provisioning median, round ${index + 1}`,
      value: `${result.provisionMedianMs} ms`,
      baseline: `raw clone ${result.rawCloneMedianMs} ms`,
      ratio: result.ratio,
      target: '≤ 1.5×',
      pass: result.ratio <= 1.5,
    })),
  };
}
