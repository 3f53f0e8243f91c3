import {
  type AppError,
  BoundedMap,
  createTenantsRepository,
  GroupCommit,
  apiCallEventCheck,
  isApiCallEvent,
  MAX_EVENTS_PER_REQUEST,
  usageIngestPayloadOf,
  validationFailed,
  type DatabasePool,
  type JobProducer,
  type TenantsRepository,
  type UsageEvent,
} from '@deeplens/shared';

export interface IntakeSettings {
  /** An optional linger: how long the first request of a job waits for others to share it (0: none). */
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
 * 1 to 1,000. Each event gets the contract's compiled check, the one the
 * queue catalog applies too, so nothing accepted here can fail in the worker.
 */
function parseEventsBody(body: unknown): { events: UsageEvent[]; batched: boolean } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw validationFailed('send one event or {"events": [...]} as a JSON object', [
      { field: 'body', message: 'must be an object' },
    ]);
  }
  const batched = Object.hasOwn(body, 'events');
  let items: unknown[];
  if (batched) {
    const extra = Object.keys(body).find((key) => key !== 'events');
    if (extra)
      throw validationFailed(`body.${extra} is not a known field`, [
        { field: `body.${extra}`, message: 'is not a known field' },
      ]);
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
class LiveTenants {
  private readonly seen: BoundedMap<string, number>;
  private readonly pending = new Map<string, Promise<boolean>>();

  constructor(
    private readonly tenants: Pick<TenantsRepository, 'statusesOf'>,
    private readonly ttlMs: number,
    maxEntries = 50_000,
  ) {
    this.seen = new BoundedMap(maxEntries);
  }

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
    const rows = await this.tenants.statusesOf(ids);
    const live = new Set<string>();
    const until = Date.now() + this.ttlMs;
    for (const row of rows) {
      if (row.status === 'deleted') continue;
      live.add(row.id);
      if (STABLE_LIVE.has(row.status)) this.seen.set(row.id, until);
    }
    return live;
  }

  forget(tenantId: string): void {
    this.seen.delete(tenantId);
  }

  clear(): void {
    this.seen.clear();
  }
}

export interface EventIntakeDeps {
  pool: DatabasePool;
  producer: JobProducer;
  settings: IntakeSettings;
}

/** POST /v1/events/api-calls: validate all, check tenants, then one job per group of requests (group commit). */
export function createEventIntake({ pool, producer, settings }: EventIntakeDeps) {
  const tenants = new LiveTenants(createTenantsRepository(pool), settings.tenantCacheTtlMs);
  // The producer turns a Redis failure into `unavailable` (503).
  // Group commit of usage.ingest jobs: requests arriving while a job is being added share the
  // next one (two adds in flight at most), so jobs grow with the load and an idle API adds a lone
  // event at once. A request's events always travel together; all of a job's requests get its id.
  const coalescer = new GroupCommit<readonly UsageEvent[], string>(
    async (requests) => {
      const jobId = await producer.enqueue('usage.ingest', usageIngestPayloadOf(requests.flat()));
      return requests.map(() => jobId);
    },
    {
      lingerMs: settings.coalesceMs,
      maxSize: settings.coalesceMaxEvents,
      maxInFlight: 2,
      sizeOf: (events) => events.length,
    },
  );

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
