import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./autocannon-child.mjs', import.meta.url));

/**
 * autocannon in a child process. `spec`: url, method, connections, duration
 * (s) or amount (requests), headers, body ({kind: 'event', tenantIds, batch?}
 * for unique events per request, {kind: 'paths', paths} to rotate paths).
 * Resolves with its figures; `onStart` is called once the child is spawned.
 */
export function runLoad(spec, { onStart } = {}) {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [CHILD, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'pipe'] });
    onStart?.(Date.now());
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (err += chunk));
    child.once('exit', (code) => {
      const line = out.trim().split('\n').at(-1) ?? '';
      try {
        const result = JSON.parse(line);
        if (result.error || code !== 0) return fail(new Error(`autocannon failed: ${result.error ?? code}\n${err}`));
        done(result);
      } catch {
        fail(new Error(`autocannon gave no result (exit ${code}):\n${out}\n${err}`));
      }
    });
  });
}
