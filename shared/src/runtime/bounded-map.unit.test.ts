import { describe, expect, it } from 'vitest';
import { BoundedMap } from './bounded-map.js';

describe('BoundedMap', () => {
  it('keeps at most maxSize entries, evicting the one written longest ago', () => {
    const map = new BoundedMap<string, number>(2);
    map.set('a', 1).set('b', 2).set('c', 3);
    expect(map.size).toBe(2);
    expect(map.has('a')).toBe(false);
    expect([map.get('b'), map.get('c')]).toEqual([2, 3]);
  });

  it('counts a write to a key already there as its newest, and evicts nothing for it', () => {
    const map = new BoundedMap<string, number>(2);
    map.set('a', 1).set('b', 2).set('a', 10);
    expect(map.size).toBe(2);
    map.set('c', 3); // b is now the oldest write
    expect(map.has('b')).toBe(false);
    expect([map.get('a'), map.get('c')]).toEqual([10, 3]);
  });

  it('does not reorder on reads', () => {
    const map = new BoundedMap<string, number>(2);
    map.set('a', 1).set('b', 2);
    expect(map.get('a')).toBe(1);
    map.set('c', 3);
    expect(map.has('a')).toBe(false);
  });

  it('deletes and clears', () => {
    const map = new BoundedMap<string, number>(3);
    map.set('a', 1).set('b', 2);
    expect(map.delete('a')).toBe(true);
    expect(map.delete('a')).toBe(false);
    map.clear();
    expect(map.size).toBe(0);
  });

  it('refuses a bound below one', () => {
    expect(() => new BoundedMap(0)).toThrow(RangeError);
  });
});
