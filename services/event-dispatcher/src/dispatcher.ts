import { hostname } from 'node:os';
import {
  createWorkerConnection,
  domainEventsStream,
  parseDomainEvent,
  webhookDeliveriesRepository,
  webhookSubscribersRepository,
  type WorkerRuntime,
} from '@deeplens/shared';
import type { Redis } from 'ioredis';
import type { DispatcherEnv } from './config.js';

/**
 * Reads the domain-event stream with a consumer group (each event handled by
 * one dispatcher, however many run) and fans each event out into one
 * webhook.deliver job per subscriber that wants its type. An entry is
 * acknowledged only after its jobs are enqueued; the job ids are derived from
 * (subscriber, event), so handling an entry twice enqueues nothing new.
 */

const WEBHOOKS_GROUP = 'webhooks';
type Entry = [id: string, fields: string[]];

export function startDispatcher(runtime: WorkerRuntime<DispatcherEnv>) {
  const { env, log, platformPool: pool, producer } = runtime;
  const stream = domainEventsStream(env.DEEPLENS_QUEUE_PREFIX);
  const consumer = `${hostname()}-${process.pid}`;
  // Blocking reads get a connection of their own.
  const redis: Redis = createWorkerConnection(env.REDIS_URL);
  let stopping = false;
  const fanOut = runtime.metrics.counter(
    'deeplens_webhook_jobs_enqueued_total',
    'webhook.deliver jobs enqueued by event type',
    ['type'],
  );

  async function handle([, fields]: Entry): Promise<void> {
    const event = parseDomainEvent(fields);
    if (!event) return; // a type or version this build does not know: not ours to deliver
    const subscribers = await webhookSubscribersRepository.activeFor(pool, event.type);
    if (subscribers.length === 0) return;
    await webhookDeliveriesRepository.storeEvent(pool, { id: event.id, type: event.type, body: event });
    await producer.enqueueMany(
      'webhook.deliver',
      subscribers.map((subscriberId) => ({ subscriberId, eventId: event.id })),
    );
    fanOut.inc({ type: event.type }, subscribers.length);
  }

  async function processEntries(entries: Entry[]): Promise<void> {
    for (const entry of entries) {
      await handle(entry);
      await redis.xack(stream, WEBHOOKS_GROUP, entry[0]);
    }
  }

  async function ensureGroup() {
    try {
      // From the start of the stream on first creation: nothing published before the first dispatcher is lost.
      await redis.xgroup('CREATE', stream, WEBHOOKS_GROUP, '0', 'MKSTREAM');
    } catch (error) {
      if (!/BUSYGROUP/.test((error as Error).message)) throw error;
    }
  }

  async function claimAbandoned() {
    const [, entries] = (await redis.xautoclaim(
      stream,
      WEBHOOKS_GROUP,
      consumer,
      env.DEEPLENS_EVENTS_CLAIM_IDLE_MS,
      '0-0',
      'COUNT',
      100,
    )) as [string, Entry[]];
    await processEntries(entries.filter((entry) => Array.isArray(entry[1])));
  }

  async function run() {
    await ensureGroup();
    // Our own unacknowledged entries first (a crash of this consumer name), then new ones.
    let cursor = '0';
    let lastClaim = 0;
    while (!stopping) {
      try {
        if (Date.now() - lastClaim > env.DEEPLENS_EVENTS_CLAIM_IDLE_MS / 2) {
          lastClaim = Date.now();
          await claimAbandoned();
        }
        const reply = (await redis.xreadgroup(
          'GROUP',
          WEBHOOKS_GROUP,
          consumer,
          'COUNT',
          100,
          'BLOCK',
          1_000,
          'STREAMS',
          stream,
          cursor,
        )) as Array<[string, Entry[]]> | null;
        const entries = reply?.[0]?.[1] ?? [];
        if (cursor === '0' && entries.length === 0) cursor = '>';
        await processEntries(entries);
      } catch (error) {
        if (stopping) break;
        log.warn({ err: error }, 'dispatching events failed; retrying from the unacknowledged entries');
        cursor = '0';
        if (/NOGROUP/.test((error as Error).message)) await ensureGroup().catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    }
  }

  const running = run();
  return {
    async close() {
      stopping = true;
      redis.disconnect();
      await running.catch(() => undefined);
    },
  };
}
