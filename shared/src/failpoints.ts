import { AppError } from './errors.js';

/**
 * Fault points for the fault tests. A process started with
 * DEEPLENS_FAILPOINTS=provision.after-clone kills itself with SIGKILL on
 * reaching that point, the way a power cut or an OOM kill would;
 * `provision.after-clone:error` instead fails there with a permanent error,
 * and `provision.after-clone:delay=2000` pauses there (to catch a job mid-way).
 * Only honoured when NODE_ENV=test; elsewhere this is a no-op.
 */
type Action = { kind: 'kill' } | { kind: 'error' } | { kind: 'delay'; ms: number };
let armed: ReadonlyMap<string, Action> = new Map();

export function armFailpoints(nodeEnv: string, specs: readonly string[]): void {
  const parsed = new Map<string, Action>();
  if (nodeEnv === 'test') {
    for (const spec of specs) {
      const [name, action = 'kill'] = spec.split(':');
      if (action === 'error') parsed.set(name!, { kind: 'error' });
      else if (action.startsWith('delay=')) parsed.set(name!, { kind: 'delay', ms: Number(action.slice(6)) });
      else parsed.set(name!, { kind: 'kill' });
    }
  }
  armed = parsed;
}

export async function failpoint(name: string): Promise<void> {
  const action = armed.get(name);
  if (!action) return;
  if (action.kind === 'delay') {
    await new Promise((done) => setTimeout(done, action.ms));
    return;
  }
  if (action.kind === 'error') throw new AppError('injected_failure', `failpoint ${name} failed this step on purpose`);
  process.stderr.write(`failpoint ${name} reached: killing the process\n`);
  process.kill(process.pid, 'SIGKILL');
  await new Promise(() => undefined); // the signal is delivered before anything else runs
}
