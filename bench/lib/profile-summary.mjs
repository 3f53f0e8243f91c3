// Summarises a V8 .cpuprofile (node --cpu-prof): self time by function and
// location, largest first. Also runnable: node bench/lib/profile-summary.mjs FILE [TOP].
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function summarizeProfile(file, top = 30) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map();
  const deltas = profile.timeDeltas;
  for (let i = 0; i < profile.samples.length; i += 1) {
    const id = profile.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + (deltas[i] ?? 0));
  }
  const byFunction = new Map();
  let total = 0;
  for (const [id, us] of selfUs) {
    const { callFrame } = byId.get(id);
    const where = callFrame.url
      ? `${callFrame.url.replace(/^file:\/\/.*?node_modules\//, '').replace(/^file:\/\/.*?\/(services|shared)\//, '$1/')}:${callFrame.lineNumber + 1}`
      : '';
    const key = `${callFrame.functionName || '(anonymous)'} ${where}`.trim();
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
    total += us;
  }
  const entries = [...byFunction.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  return {
    totalMs: Math.round(total / 1000),
    top: entries.map(([name, us]) => ({
      name,
      selfMs: Math.round(us / 1000),
      percent: Math.round((us / total) * 1000) / 10,
    })),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const summary = summarizeProfile(process.argv[2], Number(process.argv[3] ?? 30));
  process.stdout.write(`total ${summary.totalMs} ms\n`);
  for (const entry of summary.top)
    process.stdout.write(
      `${String(entry.selfMs).padStart(8)} ms ${String(entry.percent).padStart(5)}%  ${entry.name}\n`,
    );
}
