/**
 * Crash points for the fault tests: a process started with
 * DEEPLENS_FAILPOINTS=provision.after-clone kills itself with SIGKILL when it
 * reaches that point, the way a power cut or an OOM kill would. Only honoured
 * when NODE_ENV=test; elsewhere this is a no-op.
 */
let armed: ReadonlySet<string> = new Set();

export function armFailpoints(nodeEnv: string, names: readonly string[]): void {
  armed = nodeEnv === 'test' ? new Set(names) : new Set();
}

export function failpoint(name: string): void {
  if (armed.has(name)) {
    process.stderr.write(`failpoint ${name} reached: killing the process\n`);
    process.kill(process.pid, 'SIGKILL');
  }
}
