/**
 * A Map that holds at most `maxSize` entries: storing a new key when it is
 * full evicts the entry written longest ago (first in, first out, by last
 * write). Reads do not reorder, so a read costs what Map#get costs: the
 * callers are per-request caches on the API's hot paths (recognised auth
 * headers, rate-limit windows, quota snapshots, live tenants), where a bound
 * matters against a flood of new keys and exact recency does not.
 */
export class BoundedMap<K, V> {
  private readonly entries = new Map<K, V>();

  constructor(readonly maxSize: number) {
    if (!(maxSize >= 1)) throw new RangeError(`a BoundedMap holds at least one entry (got ${maxSize})`);
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: K): V | undefined {
    return this.entries.get(key);
  }

  has(key: K): boolean {
    return this.entries.has(key);
  }

  /** Stores `value` as the newest entry; a new key in a full map evicts the oldest first. */
  set(key: K, value: V): this {
    if (!this.entries.delete(key) && this.entries.size >= this.maxSize) {
      this.entries.delete(this.entries.keys().next().value as K);
    }
    this.entries.set(key, value);
    return this;
  }

  delete(key: K): boolean {
    return this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }
}
