import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { startService, testEnv, type ServiceProcess } from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from './helpers.js';

/**
 * Every metric a Grafana dashboard queries is one the services really export:
 * the names come from scraping the API (in-process) and each worker (a real
 * process, on its own metrics port), not from a list kept by hand.
 */
const dashboardsDir = resolve(import.meta.dirname, '../../../infra/grafana/dashboards');
const workers = ['provisioner', 'storage-verifier', 'usage-aggregator', 'event-dispatcher'] as const;

let api: TestApi;
const processes: ServiceProcess[] = [];
const exported = new Set<string>(['up']); // `up` is Prometheus' own, per target.

/** Names a scrape exposes, with the series names histograms and summaries add. */
function exportedNames(text: string): string[] {
  const names: string[] = [];
  for (const match of text.matchAll(/^# TYPE (\S+) (\w+)$/gm)) {
    const [, name, type] = match as unknown as [string, string, string];
    names.push(name);
    if (type === 'histogram') names.push(`${name}_bucket`, `${name}_sum`, `${name}_count`);
    if (type === 'summary') names.push(`${name}_sum`, `${name}_count`);
  }
  return names;
}

const PROMQL_WORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'le',
  'inf',
  'nan',
]);

/** The metric names of a PromQL expression: identifiers that are not functions, keywords, labels or durations. */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // label values
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // ranges
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '') // label lists
    .replace(/\$\w+/g, ''); // Grafana variables
  const names = new Set<string>();
  for (const match of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const word = match[0];
    const before = stripped[match.index - 1] ?? '';
    const after = stripped.slice(match.index + word.length);
    if (/[\d.]/.test(before)) continue; // part of a number such as 1e3
    if (/^\s*\(/.test(after)) continue; // a function
    if (PROMQL_WORDS.has(word.toLowerCase())) continue;
    names.add(word);
  }
  return [...names];
}

function expressions(node: unknown, found: string[] = []): string[] {
  if (Array.isArray(node)) for (const child of node) expressions(child, found);
  else if (node && typeof node === 'object') {
    for (const [key, child] of Object.entries(node)) {
      if (key === 'expr' && typeof child === 'string') found.push(child);
      else expressions(child, found);
    }
  }
  return found;
}

beforeAll(async () => {
  const env = testEnv();
  api = await startTestApi(env);
  const scrape = await api.call('GET', '/metrics', { token: null });
  for (const name of exportedNames(scrape.body)) exported.add(name);
  for (const worker of workers) {
    const service = await startService(worker, env);
    processes.push(service);
    const port = service.output.map((line) => /"metricsPort":(\d+)/.exec(line)?.[1]).find(Boolean);
    expect(port, `${worker} logs its metrics port`).toBeTruthy();
    const response = await fetch(`http://127.0.0.1:${port}/metrics`);
    for (const name of exportedNames(await response.text())) exported.add(name);
  }
});
afterAll(async () => {
  await Promise.all(processes.map((service) => service.stop()));
  await api?.close();
});

describe('Grafana dashboards', () => {
  it('extracts metric names from PromQL', () => {
    expect(
      metricNames(
        'histogram_quantile(0.95, sum by (le, route) (rate(deeplens_http_request_duration_seconds_bucket{status=~"5.."}[5m])))',
      ),
    ).toEqual(['deeplens_http_request_duration_seconds_bucket']);
    expect(metricNames('sum(max by (plan) (a_used)) / sum (b_limit) and on (plan) up')).toEqual([
      'a_used',
      'b_limit',
      'up',
    ]);
  });

  it('are the seed’s four, and query only metrics the services export', () => {
    const files = readdirSync(dashboardsDir)
      .filter((file) => file.endsWith('.json'))
      .sort();
    expect(files).toEqual([
      'api-performance.json',
      'platform-overview.json',
      'storage-utilization.json',
      'tenant-performance.json',
    ]);
    // The scrapes found the job, HTTP and platform metrics at all.
    for (const name of [
      'deeplens_job_duration_seconds_bucket',
      'deeplens_http_request_duration_seconds_bucket',
      'deeplens_tenants',
      'deeplens_queue_jobs',
    ]) {
      expect(exported, name).toContain(name);
    }
    const uids = new Set<string>();
    for (const file of files) {
      const dashboard = JSON.parse(readFileSync(resolve(dashboardsDir, file), 'utf8'));
      expect(dashboard.uid, file).toBeTruthy();
      uids.add(dashboard.uid);
      const exprs = expressions(dashboard.panels);
      expect(exprs.length, `${file} has queries`).toBeGreaterThan(3);
      for (const expr of exprs) {
        const names = metricNames(expr);
        expect(names.length, `${file}: ${expr} names a metric`).toBeGreaterThan(0);
        for (const name of names)
          expect(exported.has(name), `${file}: ${name} (in ${expr}) is not exported by any service`).toBe(true);
      }
    }
    expect(uids.size).toBe(files.length);
  });
});
