export interface GroupCommitOptions<T> {
  /** How long the first item of a group waits for company; 0 waits only for the end of the current event-loop turn. */
  lingerMs: number;
  /** A group holds at most this much (by `sizeOf`); reaching it starts the group's commit at once. */
  maxSize: number;
  /**
   * Commits running at once; items arriving while every slot is busy wait together for the next.
   * A full group (maxSize) starts at once even then: holding it back would only hold its callers.
   */
  maxInFlight: number;
  /** An item's size; 1 each by default. An item is never split across groups. */
  sizeOf?: (item: T) => number;
}

/**
 * Group commit: items added while a commit is running wait and go together in
 * the next one, so the cost of a commit (a Redis add, a transaction) is shared
 * by however many items the load brings, and an idle system commits a lone
 * item at once. Each caller gets its own item's result; if a commit throws,
 * every caller in that group gets the error.
 *
 * The API groups usage events into usage.ingest jobs with it, and the
 * aggregator groups concurrently active jobs into one transaction.
 */
export class GroupCommit<T, R> {
  private items: T[] = [];
  private size = 0;
  private waiting: Array<{ resolve: (result: R) => void; reject: (error: unknown) => void }> = [];
  private scheduled: NodeJS.Timeout | NodeJS.Immediate | null = null;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly sizeOf: (item: T) => number;

  constructor(
    /** Commits a group; answers one result per item, in order. */
    private readonly commit: (items: T[]) => Promise<R[]>,
    private readonly options: GroupCommitOptions<T>,
  ) {
    this.sizeOf = options.sizeOf ?? (() => 1);
  }

  add(item: T): Promise<R> {
    const size = this.sizeOf(item);
    // An item that would overflow the group goes with the next one, never split.
    if (this.items.length > 0 && this.size + size > this.options.maxSize) this.flush();
    const answer = new Promise<R>((resolve, reject) => this.waiting.push({ resolve, reject }));
    this.items.push(item);
    this.size += size;
    if (this.size >= this.options.maxSize) this.flush();
    else this.schedule();
    return answer;
  }

  /** Commits what is waiting and resolves when nothing is left in flight. */
  async close(): Promise<void> {
    while (this.items.length > 0 || this.inFlight.size > 0) {
      this.flush();
      await Promise.all([...this.inFlight]);
    }
  }

  /** A commit soon, unless one is due or every slot is busy (a finishing commit starts the next). */
  private schedule(): void {
    if (this.scheduled || this.inFlight.size >= this.options.maxInFlight) return;
    this.scheduled =
      this.options.lingerMs > 0
        ? setTimeout(() => this.flush(), this.options.lingerMs)
        : setImmediate(() => this.flush());
  }

  private flush(): void {
    if (this.scheduled) {
      clearTimeout(this.scheduled as NodeJS.Timeout);
      clearImmediate(this.scheduled as NodeJS.Immediate);
      this.scheduled = null;
    }
    if (this.items.length === 0) return;
    const items = this.items;
    const waiting = this.waiting;
    this.items = [];
    this.waiting = [];
    this.size = 0;
    const done = this.commit(items).then(
      (results) => {
        for (const [index, waiter] of waiting.entries()) waiter.resolve(results[index]!);
      },
      (error) => {
        for (const waiter of waiting) waiter.reject(error);
      },
    );
    this.inFlight.add(done);
    void done.finally(() => {
      this.inFlight.delete(done);
      // What gathered while this commit ran goes next.
      if (this.items.length > 0) this.schedule();
    });
  }
}
