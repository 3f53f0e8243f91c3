import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPool, type DatabasePool } from '../db/pool.js';
import { createLogger } from '../logger.js';
import { testEnv, waitFor } from '../testing/index.js';
import { startPeriodicTask } from './periodic-task.js';

const log = createLogger({ name: 'periodic-task-test', level: 'silent' });
let pool: DatabasePool;
beforeAll(async () => {
  pool = await openPool(testEnv().DATABASE_URL!, { maximumPoolSize: 4 });
});
afterAll(() => pool?.end());

/** A task whose runs the test lets finish one by one. */
function gatedTask() {
  const state = { started: 0, finished: 0, concurrent: 0, maxConcurrent: 0, release: () => {} };
  const run = async () => {
    state.started += 1;
    state.concurrent += 1;
    state.maxConcurrent = Math.max(state.maxConcurrent, state.concurrent);
    await new Promise<void>((resolve) => (state.release = resolve));
    state.concurrent -= 1;
    state.finished += 1;
  };
  return { state, run };
}

describe('startPeriodicTask', () => {
  it('runs soon after start and again on the interval, never two runs at once', async () => {
    const { state, run } = gatedTask();
    const task = startPeriodicTask({ name: 'gated', intervalMs: 20, firstRunMs: 0, log }, run);
    await waitFor(() => (state.started === 1 ? true : undefined), { what: 'first run' });
    // Many intervals pass while the first run is held: none starts beside it, and runNow joins it.
    const joined = task.runNow();
    await new Promise((resolve) => setImmediate(resolve));
    expect(state.started).toBe(1);
    state.release();
    await joined;
    await waitFor(() => (state.started === 2 ? true : undefined), { what: 'second run' });
    expect(state.maxConcurrent).toBe(1);
    const stopped = task.stop();
    state.release();
    await stopped;
    expect(state.finished).toBe(state.started);
  });

  it('stop() waits for the run in progress', async () => {
    const { state, run } = gatedTask();
    const task = startPeriodicTask({ name: 'stop', intervalMs: 10_000, firstRunMs: 0, log }, run);
    await waitFor(() => (state.started === 1 ? true : undefined));
    let stopped = false;
    const stopping = task.stop().then(() => (stopped = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(stopped).toBe(false);
    state.release();
    await stopping;
    expect(state.finished).toBe(1);
  });

  it('with a lock, two replicas never run the task at the same time: the one without the lock skips its round', async () => {
    const { state, run } = gatedTask();
    const key = `periodic-test/${Math.random()}`;
    const a = startPeriodicTask({ name: 'locked', intervalMs: 10_000, firstRunMs: 0, lock: { pool, key }, log }, run);
    await waitFor(() => (state.started === 1 ? true : undefined), { what: 'replica a runs' });
    const b = startPeriodicTask({ name: 'locked', intervalMs: 10_000, firstRunMs: 0, lock: { pool, key }, log }, run);
    await b.runNow(); // b's round: the lock is taken, so it skips
    expect(state.started).toBe(1);
    state.release();
    await waitFor(() => (state.finished === 1 ? true : undefined));
    const second = b.runNow(); // the lock is free again
    await waitFor(() => (state.started === 2 ? true : undefined), { what: 'replica b runs' });
    state.release();
    await second;
    await Promise.all([a.stop(), b.stop()]);
    expect(state.maxConcurrent).toBe(1);
  });

  it('logs a failed run and runs again on the next round', async () => {
    let calls = 0;
    const warnings: unknown[] = [];
    const spy = { ...log, warn: (...args: unknown[]) => void warnings.push(args) } as unknown as typeof log;
    const task = startPeriodicTask({ name: 'flaky', intervalMs: 10, firstRunMs: 0, log: spy }, async () => {
      calls += 1;
      if (calls === 1) throw new Error('boom');
    });
    await waitFor(() => (calls >= 2 ? true : undefined), { what: 'a second run after the failure' });
    await task.stop();
    expect(warnings).toHaveLength(1);
  });
});
