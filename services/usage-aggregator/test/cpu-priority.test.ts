import { readdirSync, readFileSync } from 'node:fs';
import { startService, testEnv, type ServiceProcess } from '@deeplens/shared/testing';
import { afterEach, describe, expect, it } from 'vitest';

/** The niceness of every thread of a process (field 19 of /proc/<pid>/task/<tid>/stat). */
function threadNiceness(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
}

describe.runIf(process.platform === 'linux')('the aggregator’s CPU priority', () => {
  let aggregator: ServiceProcess | undefined;
  afterEach(async () => {
    await aggregator?.stop();
    aggregator = undefined;
  });

  it('runs every thread at niceness 10 by default, so the API goes first on a shared machine', async () => {
    aggregator = await startService('usage-aggregator', testEnv());
    const niceness = threadNiceness(aggregator.child.pid!);
    // V8's and libuv's helper threads exist before the service lowers its priority: all of them follow.
    expect(niceness.length).toBeGreaterThan(4);
    expect(new Set(niceness)).toEqual(new Set([10]));
  });

  it('keeps normal priority when DEEPLENS_CPU_NICENESS=0', async () => {
    aggregator = await startService('usage-aggregator', testEnv({ DEEPLENS_CPU_NICENESS: '0' }));
    expect(new Set(threadNiceness(aggregator.child.pid!))).toEqual(new Set([0]));
  });
});
