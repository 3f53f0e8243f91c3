import { withCredentials, withDatabase } from './connection-uri.js';
import { openPool, type DatabasePool } from './pool.js';

export interface TenantPoolsOptions {
  /** A connection URI whose database part is replaced by each tenant database's name. */
  connectionUri: string;
  /**
   * The login each database is opened with (its tenant's own role), asked
   * each time a pool opens; unset keeps the URI's. A pool is per database,
   * so one tenant's credentials never serve another's database.
   */
  credentials?: (database: string) => Promise<{ user: string; password: string }>;
  /** Connections all tenant databases may hold together (DEEPLENS_TENANT_POOL_MAX_CONNECTIONS). */
  maxConnections: number;
  /** A pool unused this long is closed (DEEPLENS_TENANT_POOL_IDLE_MS). */
  idleMs: number;
  /** Connections one database's pool may hold; capped at maxConnections. */
  connectionsPerDatabase?: number;
  statementTimeoutMs?: number;
}

interface Entry {
  database: string;
  pool: Promise<DatabasePool>;
  size: number;
  users: number;
  idleTimer: NodeJS.Timeout | null;
}

/**
 * Pools to tenant databases, opened on demand and closed when idle, with the
 * total number of connections bounded however many tenants there are. Each
 * open pool reserves its maximum size from the budget until it has closed;
 * when the budget is spent the least recently used idle pool is closed to
 * make room, and when none is idle callers wait their turn.
 */
export class TenantPools {
  private readonly entries = new Map<string, Entry>(); // in order of last use, oldest first
  private readonly closing = new Set<Promise<void>>();
  private closingConnections = 0;
  private waiters: Array<() => void> = [];
  private closed = false;
  private readonly perDatabase: number;

  constructor(private readonly options: TenantPoolsOptions) {
    this.perDatabase = Math.max(1, Math.min(options.connectionsPerDatabase ?? 2, options.maxConnections));
  }

  /** Runs `work` with the pool of `database`; the pool stays open for others while in use. */
  async use<T>(database: string, work: (pool: DatabasePool) => Promise<T>): Promise<T> {
    const entry = await this.acquire(database);
    try {
      return await work(await entry.pool);
    } finally {
      this.release(entry);
    }
  }

  /** Connections reserved now (open pools and pools still closing) and how many pools are open. */
  stats(): { reservedConnections: number; openPools: number; maxConnections: number } {
    return {
      reservedConnections: this.reserved(),
      openPools: this.entries.size,
      maxConnections: this.options.maxConnections,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.entries.values()].map((entry) => this.evict(entry)));
    await Promise.all([...this.closing]);
    this.wake();
  }

  private reserved(): number {
    let total = this.closingConnections;
    for (const entry of this.entries.values()) total += entry.size;
    return total;
  }

  private async acquire(database: string): Promise<Entry> {
    for (;;) {
      if (this.closed) throw new Error('tenant pools are closed');
      const existing = this.entries.get(database);
      if (existing) {
        existing.users += 1;
        if (existing.idleTimer) clearTimeout(existing.idleTimer);
        existing.idleTimer = null;
        this.entries.delete(database);
        this.entries.set(database, existing);
        return existing;
      }
      if (this.reserved() + this.perDatabase <= this.options.maxConnections) return this.open(database);
      const idle = [...this.entries.values()].find((entry) => entry.users === 0);
      if (idle) {
        await this.evict(idle);
        continue;
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  private open(database: string): Entry {
    const entry: Entry = {
      database,
      size: this.perDatabase,
      users: 1,
      idleTimer: null,
      pool: this.uriOf(database).then((uri) =>
        openPool(uri, {
          maximumPoolSize: this.perDatabase,
          idleTimeout: this.options.idleMs,
          statementTimeout: this.options.statementTimeoutMs ?? 60_000,
        }),
      ),
    };
    this.entries.set(database, entry);
    // A database that cannot be opened (dropped meanwhile) leaves no entry behind.
    entry.pool.catch(() => {
      if (this.entries.get(database) === entry) this.entries.delete(database);
      this.wake();
    });
    return entry;
  }

  private async uriOf(database: string): Promise<string> {
    const uri = withDatabase(this.options.connectionUri, database);
    if (!this.options.credentials) return uri;
    const { user, password } = await this.options.credentials(database);
    return withCredentials(uri, user, password);
  }

  private release(entry: Entry): void {
    entry.users -= 1;
    if (entry.users === 0 && this.entries.get(entry.database) === entry) {
      entry.idleTimer = setTimeout(() => void this.evict(entry), this.options.idleMs);
      entry.idleTimer.unref();
    }
    this.wake();
  }

  /** Closes a pool; its connections count against the budget until they are gone. */
  private evict(entry: Entry): Promise<void> {
    if (this.entries.get(entry.database) !== entry) return Promise.resolve();
    this.entries.delete(entry.database);
    if (entry.idleTimer) clearTimeout(entry.idleTimer);
    this.closingConnections += entry.size;
    const done = entry.pool
      .then((pool) => pool.end())
      .catch(() => undefined)
      .finally(() => {
        this.closingConnections -= entry.size;
        this.closing.delete(done);
        this.wake();
      });
    this.closing.add(done);
    return done;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }
}
