import pg from 'pg';
import { platformNames, withDatabase } from '@deeplens/shared';
import { provisionerEnvSchema } from '../../services/provisioner/dist/config.js';
import { waitFor, withAdmin } from '../lib/stack.mjs';
import { median, provisionTenant, round, tenantName } from '../lib/tenants.mjs';

/**
 * POST /v1/tenants → job completed, against a raw CREATE DATABASE … TEMPLATE
 * of the same template, interleaved (raw, provision, raw, provision…) so both
 * see the same machine. Before each raw clone the provisioner is left to
 * finish refilling its pool of spare databases, so the baseline never shares
 * the machine with a refill and each provisioning meets the pool a steady
 * rate of signups would. Two rounds with the configured pool (the target),
 * then one with the pool turned off (DEEPLENS_SPARE_DATABASES=0: every
 * provisioning clones), reported beside them.
 */
export async function provisioning(ctx) {
  const samples = ctx.quick ? 5 : 11;
  const names = platformNames(ctx.env.DEEPLENS_DB_PREFIX);
  // The pool size the provisioner runs with: the caller's setting, else the provisioner's own default.
  const configured = provisionerEnvSchema.shape.DEEPLENS_SPARE_DATABASES.parse(ctx.env.DEEPLENS_SPARE_DATABASES);

  const rounds = [];
  await withAdmin(ctx.env.DATABASE_URL, async (admin) =>
    withAdmin(withDatabase(ctx.env.DATABASE_URL, names.platformDatabase), async (platform) => {
      const poolFull = async (target) => {
        if (target === 0) return true;
        const { rows } = await platform.query(
          'SELECT count(*)::int AS n FROM spare_databases WHERE claimed_by IS NULL',
        );
        return rows[0].n >= target ? true : undefined;
      };
      try {
        for (const [index, spares] of [configured, configured, 0].entries()) {
          const label = `round ${index + 1}/3${spares === 0 ? ' (no spares)' : ''}`;
          if (index === 2) await ctx.restart('provisioner', { DEEPLENS_SPARE_DATABASES: '0' });
          const raw = [];
          const client = [];
          const job = [];
          const accepted = [];
          for (let i = 0; i < samples; i += 1) {
            ctx.progress(`${label}, sample ${i + 1}/${samples}`);
            await waitFor(() => poolFull(spares), {
              what: `${spares} ready spare databases`,
              intervalMs: 20,
              timeoutMs: 60_000,
            });
            // Dirty buffers left by the last clone (the refill's or the provisioning's) are flushed first,
            // so the baseline is a clone on a settled server in every round: a faster, stricter baseline.
            await admin.query('CHECKPOINT');
            const database = `${ctx.env.DEEPLENS_DB_PREFIX}raw_clone_${index}_${i}`;
            const started = performance.now();
            await admin.query(
              `CREATE DATABASE ${pg.escapeIdentifier(database)} TEMPLATE ${pg.escapeIdentifier(names.templateDatabase)}`,
            );
            raw.push(performance.now() - started);
            await admin.query(`DROP DATABASE ${pg.escapeIdentifier(database)}`);
            const made = await provisionTenant(ctx.call, tenantName('prov'));
            if (made.state !== 'completed') throw new Error(`provisioning failed: ${JSON.stringify(made.error)}`);
            ctx.loadTenants.push(made.tenantId);
            client.push(made.clientMs);
            job.push(made.jobMs);
            accepted.push(made.acceptedMs);
          }
          const rawMedian = median(raw);
          rounds.push({
            spares,
            rawCloneMedianMs: round(rawMedian),
            provisionMedianMs: round(median(client)),
            jobMedianMs: round(median(job)),
            // POST /v1/tenants until its 202, and the job from its creation to its end.
            acceptedMedianMs: round(median(accepted)),
            ratio: round(median(client) / rawMedian),
            rawSamplesMs: raw.map((v) => round(v, 1)),
            provisionSamplesMs: client.map((v) => round(v, 1)),
          });
        }
      } finally {
        // The other scenarios run against the configured provisioner.
        await ctx.restart('provisioner');
      }
    }),
  );
  return {
    rounds,
    rows: rounds.map((result, index) => ({
      metric: result.spares ? `provisioning median, round ${index + 1}` : 'provisioning median, no spares (info)',
      value: `${result.provisionMedianMs} ms`,
      baseline: `raw clone ${result.rawCloneMedianMs} ms`,
      ratio: result.ratio,
      target: result.spares ? '≤ 1.5×' : '—',
      pass: result.spares ? result.ratio <= 1.5 : true,
    })),
  };
}
