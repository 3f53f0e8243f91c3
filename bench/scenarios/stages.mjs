import { readdirSync, readFileSync } from 'node:fs';
import { runLoad } from '../lib/load.mjs';
import { SERVICE_TOKEN } from '../lib/stack.mjs';
import { ensureLoadTenants, round } from '../lib/tenants.mjs';
import { untilCounted, usedBy } from '../lib/usage.mjs';

/** CPU time (user + system) of a process so far, in ms; 0 once it is gone. */
function cpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // clock ticks of 10 ms
  } catch {
    return 0;
  }
}

/** CPU time of each process whose command line starts with `name` (all of PostgreSQL's backends), by pid. */
function cpuMsOf(name) {
  const byPid = new Map();
  for (const pid of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith(name)) byPid.set(pid, cpuMs(pid));
    } catch {
      // gone meanwhile
    }
  }
  return byPid;
}

/** CPU time those processes spent since `before` (a cpuMsOf): a process that exited meanwhile drops out, never below 0. */
function cpuMsSince(name, before) {
  let total = 0;
  for (const [pid, ms] of cpuMsOf(name)) total += ms - (before.get(pid) ?? 0);
  return total;
}

/**
 * Where an event's cost goes, one stage at a time (information, no target):
 * with the aggregator stopped, the API accepts events into the queue; then
 * the aggregator is started alone and drains them into PostgreSQL. Two
 * shapes: the ingest scenario's 100-event batches from 16 connections, and
 * the intake scenario's single events from 50. For each stage: events/s, and
 * the CPU time of the API, the aggregator, PostgreSQL and Redis per 1,000
 * events (from /proc, so Linux only). CPU time per event is steadier than
 * throughput on a shared machine, and tells which process to profile.
 */
export async function stages(ctx) {
  const tenantIds = await ensureLoadTenants(ctx);
  const shapes = [
    { name: '100-event batches', batch: 100, connections: 16, events: ctx.quick ? 40_000 : 80_000 },
    { name: 'single events', batch: 1, connections: 50, events: ctx.quick ? 10_000 : 20_000 },
  ];
  const rounds = [];
  for (const shape of shapes) {
    const total = shape.events;
    const perThousand = (ms) => round(ms / (total / 1000), 1);
    const before = await usedBy(ctx, tenantIds);
    await ctx.services['usage-aggregator'].stop();
    ctx.progress(`${shape.name}: the API accepts ${total} events, aggregator stopped`);
    const api = ctx.services.api.pid;
    let started = [performance.now(), cpuMs(api), cpuMsOf('postgres'), cpuMsOf('redis-server')];
    const load = await runLoad({
      url: `${ctx.apiUrl}/v1/events/api-calls`,
      method: 'POST',
      connections: shape.connections,
      amount: total / shape.batch,
      headers: { authorization: `Bearer ${SERVICE_TOKEN}` },
      body: { kind: 'event', tenantIds, ...(shape.batch > 1 ? { batch: shape.batch } : {}) },
    });
    const accept = {
      // autocannon's own rate: the window above also holds its child process's start.
      eventsPerSecond: round(load.requestsPerSecond * shape.batch, 0),
      apiCpuMsPer1k: perThousand(cpuMs(api) - started[1]),
      postgresCpuMsPer1k: perThousand(cpuMsSince('postgres', started[2])),
      redisCpuMsPer1k: perThousand(cpuMsSince('redis-server', started[3])),
      non2xx: load.non2xx,
    };

    ctx.progress(`${shape.name}: the aggregator drains them alone`);
    await ctx.restart('usage-aggregator');
    const aggregator = ctx.services['usage-aggregator'].pid;
    started = [performance.now(), cpuMs(aggregator), cpuMsOf('postgres'), cpuMsOf('redis-server')];
    await untilCounted(ctx, tenantIds, before + total);
    const drain = {
      eventsPerSecond: round(total / ((performance.now() - started[0]) / 1000), 0),
      aggregatorCpuMsPer1k: perThousand(cpuMs(aggregator) - started[1]),
      postgresCpuMsPer1k: perThousand(cpuMsSince('postgres', started[2])),
      redisCpuMsPer1k: perThousand(cpuMsSince('redis-server', started[3])),
    };
    rounds.push({ shape: shape.name, events: total, accept, drain });
  }
  return {
    rounds,
    rows: rounds.flatMap(({ shape, accept, drain }) => [
      {
        metric: `stage: API accepts ${shape}`,
        value: `${accept.eventsPerSecond} events/s; CPU ms per 1k events: API ${accept.apiCpuMsPer1k}, PostgreSQL ${accept.postgresCpuMsPer1k}, Redis ${accept.redisCpuMsPer1k}`,
        baseline: '—',
        ratio: null,
        target: 'information',
        pass: accept.non2xx === 0,
      },
      {
        metric: `stage: aggregator drains ${shape}`,
        value: `${drain.eventsPerSecond} events/s; CPU ms per 1k events: aggregator ${drain.aggregatorCpuMsPer1k}, PostgreSQL ${drain.postgresCpuMsPer1k}, Redis ${drain.redisCpuMsPer1k}`,
        baseline: '—',
        ratio: null,
        target: 'information',
        pass: true,
      },
    ]),
  };
}
