import {
  AppError,
  apiCallEventCheck,
  isApiCallEvent,
  MAX_EVENTS_PER_REQUEST,
  sql,
  validationFailed,
  type DatabasePool,
  type JobProducer,
  type UsageEvent,
} from '@deeplens/shared';
import { z } from 'zod';


export interface IntakeSettings {
  /** How long a single event waits for others to share its job. */
  coalesceMs: number;
  /** A shared job holds at most this many events; reaching it flushes at once. */
  coalesceMaxEvents: number;
  /** How long a tenant seen live is trusted without asking PostgreSQL again. */
  tenantCacheTtlMs: number;
}

function badEvent(index: number, batched: boolean, path: string, message: string): AppError {
  const field = `body${batched ? `.events.${index}` : ''}${path.replace(/\//g, '.')}`;
  return validationFailed(`event ${index} is invalid: ${field} ${message}`, [{ index, field, message }]);
}

/**
 * The body as events, all valid or none: one event, or {"events": [...]} of
 * 1 to 1,000. Each event is checked against the contract's schema and then
 * the queue catalog's, so nothing accepted here can fail in the worker.
 */
export function parseEventsBody(body: unknown): { events: UsageEvent[]; batched: boolean } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw validationFailed('send one event or {"events": [...]} as a JSON object', [{ field: 'body', message: 'must be an object' }]);
  }
  const batched = Object.hasOwn(body, 'events');
  let items: unknown[];
  if (batched) {
    const extra = Object.keys(body).find((key) => key !== 'events');
    if (extra) throw validationFailed(`body.${extra} is not a known field`, [{ field: `body.${extra}`, message: 'is not a known field' }]);
    const list = (body as { events: unknown }).events;
    if (!Array.isArray(list) || list.length === 0 || list.length > MAX_EVENTS_PER_REQUEST) {
      throw validationFailed(`body.events must be an array of 1 to ${MAX_EVENTS_PER_REQUEST} events`, [
        { field: 'body.events', message: `must hold 1 to ${MAX_EVENTS_PER_REQUEST} events` },
      ]);
    }
    items = list;
  } else {
    items = [body];
  }
  const events: UsageEvent[] = [];
  for (const [index, item] of items.entries()) {
    // Check() is compiled code; the error iterator (several times slower in the profile) runs only for a bad event.
    if (!isApiCallEvent(item)) {
      const error = apiCallEventCheck.Errors(item).First();
      throw badEvent(index, batched, error?.path ?? '', error?.message ?? 'is not a valid event');
    }
    events.push(item);
  }
  return { events, batched };
}

/** States in which a tenant is trusted for a while; others (transitions) are asked for again each time. */
const STABLE_LIVE = new Set(['active', 'suspended']);

/**
 * Which tenant ids belong to live tenants (any status but deleted), with a
 * small in-process cache of tenants seen active or suspended. A miss costs
 * one query for all of a request's unknown ids, never one per event, and
 * concurrent requests naming the same unknown id share that query. Entries
 * expire after the TTL, and are dropped at once when Redis announces a change.
 */
export class LiveTenants {
  private readonly seen = new Map<string, number>();
  private readonly pending = new Map<string, Promise<boolean>>();

  constructor(
    private readonly pool: DatabasePool,
    private readonly ttlMs: number,
    private readonly maxEntries = 50_000,
  ) {}

  /** The ids among `ids` that name no live tenant. */
  async unknownAmong(ids: readonly string[]): Promise<Set<string>> {
    const now = Date.now();
    const misses = ids.filter((id) => !((this.seen.get(id) ?? 0) > now));
    if (misses.length === 0) return new Set();
    const toFetch = misses.filter((id) => !this.pending.has(id));
    if (toFetch.length) {
      const lookup = this.lookup(toFetch);
      for (const id of toFetch) {
        const answer = lookup.then((live) => live.has(id));
        this.pending.set(id, answer);
        answer.then(
          () => this.pending.delete(id),
          () => this.pending.delete(id),
        );
      }
    }
    const live = await Promise.all(misses.map((id) => this.pending.get(id) ?? Promise.resolve(false)));
    return new Set(misses.filter((_, index) => !live[index]));
  }

  private async lookup(ids: string[]): Promise<Set<string>> {
    const rows = await this.pool.any(sql.type(z.object({ id: z.string(), status: z.string() }))`
      SELECT id, status FROM tenants WHERE id = ANY(${sql.array(ids, 'uuid')})`);
    const live = new Set<string>();
    const until = Date.now() + this.ttlMs;
    for (const row of rows) {
      if (row.status === 'deleted') continue;
      live.add(row.id);
      if (STABLE_LIVE.has(row.status)) this.remember(row.id, until);
    }
    return live;
  }

  forget(tenantId: string): void {
    this.seen.delete(tenantId);
  }

  clear(): void {
    this.seen.clear();
  }

  private remember(tenantId: string, until: number): void {
    this.seen.delete(tenantId);
    this.seen.set(tenantId, until);
    if (this.seen.size > this.maxEntries) this.seen.delete(this.seen.keys().next().value!);
  }
}

/**
 * Group commit for usage.ingest jobs. Requests that arrive while a job is
 * being added share the next job, so a busy fleet does not add a job per API
 * call and the aggregator counts bigger batches per transaction, while an
 * idle API adds a lone event at once (after the current turn of the event
 * loop, so requests parsed together travel together). Batches grow with the
 * load by themselves: the slower Redis answers, the more each job carries.
 * At most `maxInFlight` adds run at once; a full buffer (`maxEvents`) starts
 * its add straight away. An optional linger (`windowMs`) holds the first
 * event of a job that long for company. A request's events always travel
 * together in one job, and every waiting request learns the outcome of that
 * one add: all get its job id, or all get 503.
 */
export class Coalescer {
  private buffer: UsageEvent[] = [];
  private waiting: Array<{ resolve: (jobId: string) => void; reject: (error: unknown) => void }> = [];
  private scheduled: NodeJS.Timeout | NodeJS.Immediate | null = null;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly enqueue: (events: UsageEvent[]) => Promise<string>,
    private readonly windowMs: number,
    private readonly maxEvents: number,
    private readonly maxInFlight = 2,
  ) {}

  add(events: readonly UsageEvent[]): Promise<string> {
    // A request that would overflow the buffer goes with the next job, never split.
    if (this.buffer.length > 0 && this.buffer.length + events.length > this.maxEvents) this.flush();
    const answer = new Promise<string>((resolve, reject) => this.waiting.push({ resolve, reject }));
    this.buffer.push(...events);
    if (this.buffer.length >= this.maxEvents) this.flush();
    else this.schedule();
    return answer;
  }

  /** Sends what is buffered and waits for every add in flight. */
  async close(): Promise<void> {
    while (this.buffer.length > 0 || this.inFlight.size > 0) {
      this.flush();
      await Promise.all([...this.inFlight]);
    }
  }

  /** A flush soon, unless one is due or every add slot is busy (a finishing add flushes then). */
  private schedule(): void {
    if (this.scheduled || this.inFlight.size >= this.maxInFlight) return;
    this.scheduled = this.windowMs > 0 ? setTimeout(() => this.flush(), this.windowMs) : setImmediate(() => this.flush());
  }

  private unschedule(): void {
    if (!this.scheduled) return;
    clearTimeout(this.scheduled as NodeJS.Timeout);
    clearImmediate(this.scheduled as NodeJS.Immediate);
    this.scheduled = null;
  }

  private flush(): void {
    this.unschedule();
    if (this.buffer.length === 0) return;
    const events = this.buffer;
    const waiting = this.waiting;
    this.buffer = [];
    this.waiting = [];
    const done = this.enqueue(events).then(
      (jobId) => waiting.forEach((waiter) => waiter.resolve(jobId)),
      (error) => waiting.forEach((waiter) => waiter.reject(error)),
    );
    this.inFlight.add(done);
    void done.finally(() => {
      this.inFlight.delete(done);
      // What gathered while this add ran goes next.
      if (this.buffer.length > 0) this.schedule();
    });
  }
}

export interface EventIntakeDeps {
  pool: DatabasePool;
  producer: JobProducer;
  settings: IntakeSettings;
}

/** POST /v1/events/api-calls: validate all, check tenants, then one job per request (or per coalesced group). */
export function createEventIntake({ pool, producer, settings }: EventIntakeDeps) {
  const tenants = new LiveTenants(pool, settings.tenantCacheTtlMs);
  // The producer turns a Redis failure into `unavailable` (503).
  const enqueue = (events: UsageEvent[]) => producer.enqueue('usage.ingest', { events });
  const coalescer = new Coalescer(enqueue, settings.coalesceMs, settings.coalesceMaxEvents);

  return {
    tenants,
    async accept(body: unknown): Promise<{ accepted: number; jobId: string }> {
      const { events, batched } = parseEventsBody(body);
      const unknown = await tenants.unknownAmong([...new Set(events.map((event) => event.tenantId))]);
      if (unknown.size) {
        const index = events.findIndex((event) => unknown.has(event.tenantId));
        throw badEvent(index, batched, '/tenantId', `names no tenant, or a deleted one (${events[index]!.tenantId})`);
      }
      const jobId = await coalescer.add(events);
      return { accepted: events.length, jobId };
    },
    close: () => coalescer.close(),
  };
}

export type EventIntake = ReturnType<typeof createEventIntake>;
