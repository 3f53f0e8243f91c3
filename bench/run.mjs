#!/usr/bin/env node
// The benchmark suite (issue 5). Starts PostgreSQL-backed services from their
// builds under the `bench_` prefix, runs each scenario against a baseline
// measured in the same run, prints a table and writes bench/results/latest.json.
// See BENCHMARKS.md. Not a test: nothing in `npm test` depends on it.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs, USAGE } from './lib/args.mjs';

let options;
try {
  options = parseArgs(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`${error.message}\n${USAGE}\n`);
  process.exit(2);
}
if (options.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
if (options.dryRun) {
  process.stdout.write(
    `${JSON.stringify({ scenarios: options.scenarios, quick: options.quick, profile: options.profile })}\n`,
  );
  process.exit(0);
}

const { apiClient, benchEnv, cleanup, freePort, migrate, RESULTS, ROOT, startService, waitFor } = await import(
  './lib/stack.mjs'
);
const { startHello } = await import('./lib/hello.mjs');
const { summarizeProfile } = await import('./lib/profile-summary.mjs');
const scenarios = {
  provisioning: (await import('./scenarios/provisioning.mjs')).provisioning,
  burst: (await import('./scenarios/burst.mjs')).burst,
  intake: (await import('./scenarios/intake.mjs')).intake,
  ingest: (await import('./scenarios/ingest.mjs')).ingest,
  quota: (await import('./scenarios/quota.mjs')).quota,
  memory: (await import('./scenarios/memory.mjs')).memory,
  stages: (await import('./scenarios/stages.mjs')).stages,
  scale: (await import('./scenarios/scale.mjs')).scale,
};

for (const service of ['api', 'provisioner', 'storage-verifier', 'usage-aggregator']) {
  if (!existsSync(join(ROOT, 'services', service, 'dist/main.js'))) {
    process.stderr.write(
      `services/${service}/dist/main.js is missing: run \`npx turbo run build\` first (npm run bench does)\n`,
    );
    process.exit(1);
  }
}

const { runId, env } = benchEnv();
const port = await freePort();
env.PORT = String(port);
const apiUrl = `http://127.0.0.1:${port}`;
mkdirSync(RESULTS, { recursive: true });

const say = (line) => process.stderr.write(`${line}\n`);
const services = {};
const ctx = {
  env,
  quick: options.quick,
  apiUrl,
  call: apiClient(apiUrl),
  services,
  loadTenants: [],
  hello: null,
  progress: () => undefined,
  async restart(name, extraEnv = {}) {
    await services[name].stop();
    services[name] = await startService(name, env, { profile: options.profile.includes(name), extraEnv });
  },
};

const report = {
  startedAt: new Date().toISOString(),
  runId,
  quick: options.quick,
  machine: {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  },
  loadAverageAtStart: loadavg().map((value) => Math.round(value * 100) / 100),
  scenarios: {},
};

let exitCode = 0;
try {
  say(`bench ${runId}: cleaning leftovers of earlier runs under ${env.DEEPLENS_DB_PREFIX}, migrating`);
  await cleanup(env);
  await migrate(env);
  for (const name of ['provisioner', 'storage-verifier', 'usage-aggregator', 'api']) {
    services[name] = await startService(name, env, { profile: options.profile.includes(name) });
  }
  await waitFor(async () => ((await fetch(`${apiUrl}/readyz`).catch(() => null))?.ok ? true : undefined), {
    what: 'the API',
  });
  ctx.hello = await startHello();

  for (const [index, name] of options.scenarios.entries()) {
    const label = `[${index + 1}/${options.scenarios.length}] ${name}`;
    const started = performance.now();
    ctx.progress = (text) => say(`${label}: ${text}  (${Math.round((performance.now() - started) / 1000)} s)`);
    ctx.progress('starting');
    try {
      report.scenarios[name] = await scenarios[name](ctx);
      report.scenarios[name].seconds = Math.round((performance.now() - started) / 100) / 10;
      const passed = report.scenarios[name].rows.every((row) => row.pass);
      say(`${label}: done in ${report.scenarios[name].seconds} s, ${passed ? 'targets met' : 'TARGET MISSED'}`);
    } catch (error) {
      exitCode = 1;
      report.scenarios[name] = {
        error: error.message,
        rows: [{ metric: name, value: 'error', baseline: '—', ratio: null, target: '—', pass: false }],
      };
      say(`${label}: FAILED: ${error.stack}`);
    }
  }
} catch (error) {
  exitCode = 1;
  say(`bench failed: ${error.stack}`);
} finally {
  await ctx.hello?.stop().catch(() => undefined);
  for (const service of Object.values(services).reverse()) await service.stop().catch(() => undefined);
  say(
    `cleaning up: dropping ${env.DEEPLENS_DB_PREFIX}* databases and roles, Redis keys under ${env.DEEPLENS_QUEUE_PREFIX}`,
  );
  const dropped = await cleanup(env, { redisKeyPrefix: env.DEEPLENS_QUEUE_PREFIX }).catch((error) => {
    say(`cleanup failed: ${error.message}`);
    return null;
  });
  report.cleanup = { droppedDatabases: dropped };
}

report.finishedAt = new Date().toISOString();
if (options.profile.length) {
  const dir = join(RESULTS, 'profiles');
  report.profiles = {};
  for (const file of readdirSync(dir)
    .filter((name) => name.endsWith('.cpuprofile'))
    .sort()
    .slice(-options.profile.length * 4)) {
    report.profiles[file] = summarizeProfile(join(dir, file), 25);
  }
}
const json = JSON.stringify(report, null, 2);
writeFileSync(join(RESULTS, 'latest.json'), json);
writeFileSync(join(RESULTS, `run-${report.startedAt.replace(/[:.]/g, '-')}.json`), json);

const rows = Object.values(report.scenarios).flatMap((scenario) => scenario.rows ?? []);
const table = [
  ['metric', 'measured', 'baseline (same run)', 'ratio', 'target', ''],
  ...rows.map((row) => [
    row.metric,
    row.value,
    row.baseline,
    row.ratio === null ? '—' : `${row.ratio}×`,
    row.target,
    row.pass ? 'ok' : 'MISS',
  ]),
];
const widths = table[0].map((_, column) => Math.max(...table.map((row) => String(row[column]).length)));
const line = (row) => `| ${row.map((cell, column) => String(cell).padEnd(widths[column])).join(' | ')} |`;
process.stdout.write(
  `\n${line(table[0])}\n|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|\n${table.slice(1).map(line).join('\n')}\n`,
);
for (const [file, summary] of Object.entries(report.profiles ?? {})) {
  process.stdout.write(`\n${file}: self time by function (top ${summary.top.length} of ${summary.totalMs} ms)\n`);
  for (const entry of summary.top)
    process.stdout.write(
      `  ${String(entry.selfMs).padStart(8)} ms ${String(entry.percent).padStart(5)}%  ${entry.name}\n`,
    );
}
process.stdout.write(`\nfigures: bench/results/latest.json\n`);
process.exit(exitCode);
