import { describe, expect, it } from 'vitest';
import { SnapshotCache } from './usage.service.js';

const snapshot = (used: number) => ({ state: null, used });

describe('the quota snapshot cache', () => {
  it('answers from one read within its window and reads again after it', async () => {
    const cache = new SnapshotCache(250);
    let reads = 0;
    const read = async () => snapshot(++reads);
    expect((await cache.get('t1', 1_000, read)).used).toBe(1);
    expect((await cache.get('t1', 1_249, read)).used).toBe(1);
    expect((await cache.get('t2', 1_100, read)).used).toBe(2); // another tenant, its own read
    expect((await cache.get('t1', 1_250, read)).used).toBe(3); // window over
    cache.forget('t1');
    expect((await cache.get('t1', 1_260, read)).used).toBe(4);
  });

  it('reads every time with a window of 0, and keeps at most its bound of tenants', async () => {
    let reads = 0;
    const read = async () => snapshot(++reads);
    const uncached = new SnapshotCache(0);
    await uncached.get('t', 0, read);
    await uncached.get('t', 0, read);
    expect(reads).toBe(2);

    const bounded = new SnapshotCache(1_000, 2);
    await bounded.get('a', 0, read);
    await bounded.get('b', 0, read);
    await bounded.get('c', 0, read); // evicts a, the oldest
    const before = reads;
    await bounded.get('b', 1, read);
    expect(reads).toBe(before);
    await bounded.get('a', 1, read);
    expect(reads).toBe(before + 1);
  });
});
