import type { DatabasePoolConnection } from 'slonik';
import { z } from 'zod';
import type { DatabasePool } from '../db/pool.js';
import { sql } from '../db/sql.js';
import type { Logger } from '../logger.js';

/**
 * The one way a DeepLens process runs background work on a clock
 * (reconciliations, sweeps, pruning, refills): first run soon after start,
 * then every `intervalMs` with jitter so replicas started together do not
 * fire together; never two runs of one task at once in a process (a slow run
 * delays the next instead of overlapping it); with `lock`, a PostgreSQL
 * advisory lock makes a run exclusive across replicas (whoever does not get
 * it skips the round); `stop()` cancels the timer and waits for a run in
 * progress, so shutdown never cuts one short.
 */
export interface PeriodicTaskOptions {
  name: string;
  intervalMs: number;
  /** Each wait is intervalMs × (1 ± jitter); default 0.1. */
  jitter?: number;
  /** Delay of the first run; default: a jittered tenth of the interval, at most 1 s. */
  firstRunMs?: number;
  /** Exclusive across replicas of the installation: the key names the task and the installation. */
  lock?: { pool: DatabasePool; key: string };
  log: Logger;
}

export interface PeriodicTask {
  /** Runs the task now (unless a run is in progress), as the timer would; resolves when it ends. */
  runNow(): Promise<void>;
  stop(): Promise<void>;
}

export function startPeriodicTask(options: PeriodicTaskOptions, task: () => Promise<unknown>): PeriodicTask {
  const jitter = options.jitter ?? 0.1;
  let running: Promise<void> | null = null;
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;

  const jittered = (ms: number) => Math.max(0, Math.round(ms * (1 + jitter * (Math.random() * 2 - 1))));

  const runOnce = (): Promise<void> => {
    if (running) return running;
    running = (options.lock ? withAdvisoryTryLock(options.lock.pool, options.lock.key, () => task()) : task())
      .then(() => undefined)
      .catch((error: unknown) =>
        options.log.warn({ err: error, task: options.name }, `${options.name} failed; will try again`),
      )
      .finally(() => {
        running = null;
      });
    return running;
  };

  const schedule = (ms: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      void runOnce().finally(() => schedule(jittered(options.intervalMs)));
    }, ms);
    timer.unref();
  };
  schedule(options.firstRunMs ?? jittered(Math.min(1_000, options.intervalMs / 10)));

  return {
    runNow: runOnce,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}

const lockResult = z.object({ locked: z.boolean() });

/**
 * Runs `work` holding a session advisory lock on a connection of its own, or
 * not at all when another session holds it. `work` gets that connection, for
 * work that must run on the session holding the lock. The lock is released
 * explicitly, and the pool resets an explicitly held connection on release
 * anyway.
 */
export async function withAdvisoryTryLock<T>(
  pool: DatabasePool,
  key: string,
  work: (connection: DatabasePoolConnection) => Promise<T>,
): Promise<{ ran: true; value: T } | { ran: false }> {
  return pool.connect(async (connection) => {
    const got = await connection.oneFirst(
      sql.type(lockResult)`SELECT pg_try_advisory_lock(hashtext(${key})) AS locked`,
    );
    if (!got) return { ran: false as const };
    try {
      return { ran: true as const, value: await work(connection) };
    } finally {
      await connection.oneFirst(sql.type(lockResult)`SELECT pg_advisory_unlock(hashtext(${key})) AS locked`);
    }
  });
}
