import type { Redis } from 'ioredis';
import type { JobProducer } from '../queues/producer.js';
import { monthEnd } from './periods.js';

/**
 * The Redis side of metering: a mirror of PostgreSQL that the quota check
 * reads without touching the database. Keys live under the installation's
 * queue prefix but outside BullMQ's `<prefix>:<queue>:` namespaces, so
 * obliterating a queue cannot take the counters with it.
 *
 *   <prefix>:metering:calls:<tenantId>:<YYYY-MM>  API calls counted that month (absolute value from PostgreSQL)
 *   <prefix>:metering:tenant:<tenantId>           hash: status, plan, apiCallsLimit, version
 *   <prefix>:metering:tenant-changed              pub/sub channel: a tenant's status, plan or limit changed
 */
export interface MeteringRedis {
  redis: Redis;
  prefix: string;
}

export const meteringKeys = (prefix: string) => ({
  apiCalls: (tenantId: string, month: string) => `${prefix}:metering:calls:${tenantId}:${month}`,
  tenant: (tenantId: string) => `${prefix}:metering:tenant:${tenantId}`,
  tenantChanged: `${prefix}:metering:tenant-changed`,
});

/** The Redis connection and prefix a JobProducer already uses, for code that only holds the producer. */
export function meteringRedisOf(producer: JobProducer): MeteringRedis {
  return { redis: producer.connection, prefix: producer.prefix };
}

/** A counter key outlives its month by a day, for readers whose clocks run a little behind. */
const counterExpiresAt = (month: string) => monthEnd(month).getTime() + 24 * 60 * 60 * 1000;

const scripts = {
  /**
   * Raises counters to the given absolute values, never lowers them. Values
   * come from PostgreSQL, where counters only grow, so two workers writing
   * out of order still leave the larger (newer) value, and writing the same
   * value again after a crash is harmless — unlike INCRBY.
   * KEYS: counters; ARGV: value, expire-at-ms for each key. Returns how many changed.
   */
  meteringRaise: {
    lua: `
      local changed = 0
      for i, key in ipairs(KEYS) do
        local value = tonumber(ARGV[2 * i - 1])
        local current = tonumber(redis.call('GET', key) or '-1')
        if current == nil or current < value then
          redis.call('SET', key, ARGV[2 * i - 1], 'PXAT', ARGV[2 * i])
          changed = changed + 1
        end
      end
      return changed`,
  },
  /**
   * Sets a counter only if it still holds the value seen before: the repair
   * of a counter found too high cannot overwrite a newer, legitimate value.
   * KEYS[1]; ARGV: expected ('' for absent), value, expire-at-ms.
   */
  meteringCompareAndSet: {
    numberOfKeys: 1,
    lua: `
      local current = redis.call('GET', KEYS[1])
      if (current or '') == ARGV[1] then
        redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3])
        return 1
      end
      return 0`,
  },
  /**
   * Writes a tenant's quota state unless a newer version is there already,
   * and announces a change of status, plan or limit on the channel.
   * KEYS: hash, channel; ARGV: version, status, plan, limit, tenantId, ttl-ms-when-deleted.
   */
  meteringPublishTenant: {
    numberOfKeys: 2,
    lua: `
      local old = redis.call('HMGET', KEYS[1], 'version', 'status', 'plan', 'apiCallsLimit')
      if old[1] and tonumber(old[1]) > tonumber(ARGV[1]) then return 0 end
      redis.call('HSET', KEYS[1], 'version', ARGV[1], 'status', ARGV[2], 'plan', ARGV[3], 'apiCallsLimit', ARGV[4])
      if ARGV[2] == 'deleted' then redis.call('PEXPIRE', KEYS[1], ARGV[6]) else redis.call('PERSIST', KEYS[1]) end
      if old[2] ~= ARGV[2] or old[3] ~= ARGV[3] or old[4] ~= ARGV[4] then
        redis.call('PUBLISH', KEYS[2], ARGV[5])
        return 1
      end
      return 0`,
  },
} as const;

type ScriptName = keyof typeof scripts;
type WithScripts = Redis & Record<ScriptName, (...args: Array<string | number>) => Promise<number>>;

/** The connection with the metering scripts defined (ioredis runs them by SHA, loading on first use). */
export function withMeteringScripts(redis: Redis): WithScripts {
  const target = redis as WithScripts;
  for (const [name, definition] of Object.entries(scripts)) {
    if (typeof (target as unknown as Record<string, unknown>)[name] !== 'function') {
      redis.defineCommand(name, {
        lua: definition.lua,
        ...('numberOfKeys' in definition ? { numberOfKeys: definition.numberOfKeys } : {}),
      });
    }
  }
  return target;
}

export interface CounterValue {
  tenantId: string;
  month: string;
  apiCalls: number;
}

/** Raises the Redis counters to PostgreSQL's values; a month already over is skipped (its key has expired). */
export async function mirrorApiCallCounters(
  { redis, prefix }: MeteringRedis,
  counters: readonly CounterValue[],
  now = Date.now(),
): Promise<number> {
  const keys = meteringKeys(prefix);
  const live = counters.filter((counter) => counterExpiresAt(counter.month) > now);
  if (live.length === 0) return 0;
  const args = live.flatMap((counter) => [String(counter.apiCalls), String(counterExpiresAt(counter.month))]);
  // Variable key count: the first argument of a script defined without numberOfKeys.
  return withMeteringScripts(redis).meteringRaise(
    live.length,
    ...live.map((counter) => keys.apiCalls(counter.tenantId, counter.month)),
    ...args,
  );
}

/** The counters as Redis holds them; null where the key is absent. */
export async function readApiCallCounters(
  { redis, prefix }: MeteringRedis,
  wanted: ReadonlyArray<{ tenantId: string; month: string }>,
): Promise<Array<number | null>> {
  if (wanted.length === 0) return [];
  const keys = meteringKeys(prefix);
  const values = await redis.mget(...wanted.map((item) => keys.apiCalls(item.tenantId, item.month)));
  return values.map((value) => (value === null ? null : Number(value)));
}

/** Sets a counter found too high, only if it still holds what was read. */
export async function repairApiCallCounter(
  { redis, prefix }: MeteringRedis,
  counter: CounterValue,
  expected: number,
): Promise<boolean> {
  const key = meteringKeys(prefix).apiCalls(counter.tenantId, counter.month);
  const done = await withMeteringScripts(redis).meteringCompareAndSet(
    key,
    String(expected),
    String(counter.apiCalls),
    String(counterExpiresAt(counter.month)),
  );
  return done === 1;
}
