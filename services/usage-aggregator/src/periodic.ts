import { sql, type DatabasePool, type Logger } from '@deeplens/shared';
import { z } from 'zod';

/**
 * Runs `task` now and then every `intervalMs`, never two runs at once in this
 * process. With `lockKey`, a PostgreSQL advisory lock makes the run exclusive
 * across replicas too: whoever does not get the lock skips this round.
 */
export function runPeriodically(
  options: { name: string; intervalMs: number; pool: DatabasePool; log: Logger; lockKey?: string },
  task: () => Promise<void>,
): { stop(): Promise<void> } {
  let running: Promise<void> | null = null;
  let stopped = false;

  const once = async () => {
    if (options.lockKey) {
      await withTryLock(options.pool, options.lockKey, task);
    } else {
      await task();
    }
  };
  const tick = () => {
    if (running || stopped) return;
    running = once()
      .catch((error) => options.log.warn({ err: error, task: options.name }, `${options.name} failed; will try again`))
      .finally(() => {
        running = null;
      });
  };
  const timer = setInterval(tick, options.intervalMs);
  timer.unref();
  setImmediate(tick);
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}

const locked = z.object({ locked: z.boolean() });

/** Runs `work` holding a session advisory lock, or not at all if someone else holds it. */
export async function withTryLock(pool: DatabasePool, key: string, work: () => Promise<void>): Promise<boolean> {
  return pool.connect(async (connection) => {
    const got = await connection.oneFirst(sql.type(locked)`SELECT pg_try_advisory_lock(hashtext(${key})) AS locked`);
    if (!got) return false;
    try {
      await work();
      return true;
    } finally {
      await connection.oneFirst(sql.type(locked)`SELECT pg_advisory_unlock(hashtext(${key})) AS locked`);
    }
  });
}
