import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { runLoad } from '../lib/load.mjs';
import { SERVICE_TOKEN, waitFor, withAdmin } from '../lib/stack.mjs';
import { ensureLoadTenants, round } from '../lib/tenants.mjs';
import { untilCounted, usageQueueIdle, usedBy } from '../lib/usage.mjs';

const BATCH = 1_000;

/** The baseline: one PostgreSQL connection inserting 1,000-row batches with unnest … ON CONFLICT DO NOTHING. */
async function rawInsert(ctx, database, total) {
  const client = new pg.Client({ connectionString: withDatabase(ctx.env.DATABASE_URL, database) });
  await client.connect();
  try {
    await client.query('TRUNCATE raw_events');
    const tenantId = randomUUID();
    const started = performance.now();
    for (let done = 0; done < total; done += BATCH) {
      const ids = Array.from({ length: BATCH }, () => randomUUID());
      const now = new Date().toISOString();
      await client.query(
        `INSERT INTO raw_events (event_id, tenant_id, endpoint, method, status_code, duration_ms, request_bytes, response_bytes, occurred_at)
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::int4[], $6::int4[], $7::int8[], $8::int8[], $9::timestamptz[])
         ON CONFLICT (event_id) DO NOTHING`,
        [
          ids,
          ids.map(() => tenantId),
          ids.map(() => '/v1/search'),
          ids.map(() => 'GET'),
          ids.map(() => 200),
          ids.map(() => 12),
          ids.map(() => 512),
          ids.map(() => 2048),
          ids.map(() => now),
        ],
      );
    }
    return total / ((performance.now() - started) / 1000);
  } finally {
    await client.end();
  }
}

function withDatabase(url, database) {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/**
 * Batched ingest end to end: 100-event batches from 16 concurrent senders
 * (autocannon, own process), timed from the first request until the usage
 * counters (GET /v1/tenants/:id/usage) show every event. Two rounds, each
 * after a raw-insert baseline of the same number of rows.
 */
export async function ingest(ctx) {
  const tenantIds = await ensureLoadTenants(ctx);
  const total = ctx.quick ? 40_000 : 160_000;
  const database = `${ctx.env.DEEPLENS_DB_PREFIX}raw_insert`;
  await withAdmin(ctx.env.DATABASE_URL, async (admin) => {
    await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(database)}`);
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(database)}`);
  });
  const setup = new pg.Client({ connectionString: withDatabase(ctx.env.DATABASE_URL, database) });
  await setup.connect();
  await setup.query(`CREATE TABLE raw_events (event_id uuid PRIMARY KEY, tenant_id uuid NOT NULL, endpoint text NOT NULL,
    method text NOT NULL, status_code int4 NOT NULL, duration_ms int4 NOT NULL, request_bytes int8, response_bytes int8,
    occurred_at timestamptz NOT NULL)`);
  await setup.end();

  const rounds = [];
  for (let r = 1; r <= 2; r += 1) {
    ctx.progress(`round ${r}/2: raw insert of ${total} rows`);
    const rawEventsPerSecond = await rawInsert(ctx, database, total);
    ctx.progress(`round ${r}/2: waiting for the usage queue to be idle`);
    await waitFor(() => usageQueueIdle(ctx), { what: 'an idle usage queue', intervalMs: 200, timeoutMs: 600_000 });
    const before = await usedBy(ctx, tenantIds);
    ctx.progress(`round ${r}/2: ${total} events in 100-event batches from 16 senders`);
    let started = 0;
    const load = runLoad(
      {
        url: `${ctx.apiUrl}/v1/events/api-calls`,
        method: 'POST',
        connections: 16,
        amount: total / 100,
        headers: { authorization: `Bearer ${SERVICE_TOKEN}` },
        body: { kind: 'event', tenantIds, batch: 100 },
      },
      { onStart: (at) => (started = at) },
    );
    let sent = null;
    void load.then((result) => (sent = result));
    let lastReport = 0;
    await untilCounted(ctx, tenantIds, before + total, {
      // Each look is ten usage reads through the API and PostgreSQL: rare while the load still
      // runs (it could not have been counted yet, and the reads would compete with it), frequent after.
      intervalMs: () => (sent ? 20 : 250),
      onLook: (seen) => {
        if (Date.now() - lastReport < 1000) return;
        lastReport = Date.now();
        ctx.progress(`round ${r}/2: ${seen - before}/${total} events counted${sent ? ' (all sent)' : ''}`);
      },
    });
    const seconds = (Date.now() - started) / 1000;
    const result = await load;
    rounds.push({
      events: total,
      rawEventsPerSecond: round(rawEventsPerSecond, 0),
      endToEndEventsPerSecond: round(total / seconds, 0),
      ratio: round(total / seconds / rawEventsPerSecond),
      secondsUntilCounted: round(seconds),
      intakeRequestsPerSecond: round(result.requestsPerSecond, 0),
      intakeLatencyMs: result.latencyMs,
      non2xx: result.non2xx,
    });
  }
  return {
    rounds,
    rows: rounds.map((result, index) => ({
      metric: `batched ingest end to end, round ${index + 1}`,
      value: `${result.endToEndEventsPerSecond} events/s`,
      baseline: `raw insert ${result.rawEventsPerSecond} rows/s`,
      ratio: result.ratio,
      target: '≥ 0.5×',
      pass: result.ratio >= 0.5 && result.non2xx === 0,
    })),
  };
}
