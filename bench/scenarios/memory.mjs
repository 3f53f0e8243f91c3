import { Redis } from 'ioredis';
import { jobCatalog, queueNames } from '@deeplens/shared';
import { round } from '../lib/tenants.mjs';

const LIMIT_MB = 150;

/**
 * After ingest: each service's resident memory (VmRSS), and how many finished
 * jobs Redis holds per queue against the catalog's retention bound.
 */
export async function memory(ctx) {
  ctx.progress('reading resident memory and Redis job counts');
  const rss = Object.fromEntries(Object.entries(ctx.services).map(([name, service]) => [name, service.rssMb()]));
  // The API's heap beside its RSS: whether memory is live objects or heap V8 grew and kept.
  const metrics = await (await fetch(`${ctx.apiUrl}/metrics`)).text();
  const gauge = (name) =>
    round(Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(metrics)?.[1] ?? NaN) / 1024 / 1024, 1);
  const apiHeap = {
    usedMb: gauge('nodejs_heap_size_used_bytes'),
    totalMb: gauge('nodejs_heap_size_total_bytes'),
    externalMb: gauge('nodejs_external_memory_bytes'),
  };
  const redis = new Redis(ctx.env.REDIS_URL);
  const prefix = ctx.env.DEEPLENS_QUEUE_PREFIX;
  const queues = {};
  try {
    for (const queue of queueNames) {
      const [completed, failed] = await Promise.all([
        redis.zcard(`${prefix}:${queue}:completed`),
        redis.zcard(`${prefix}:${queue}:failed`),
      ]);
      const bound = Math.max(
        ...Object.values(jobCatalog)
          .filter((job) => job.queue === queue)
          .map((job) => job.retention.removeOnComplete.count + job.retention.removeOnFail.count),
      );
      queues[queue] = { completed, failed, bound };
    }
    const info = await redis.info('memory');
    const usedMemoryMb = round(Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0) / 1024 / 1024, 1);
    const rows = Object.entries(rss).map(([name, mb]) => ({
      metric: `${name} RSS after ingest`,
      value: name === 'api' ? `${mb} MB (heap ${apiHeap.usedMb} used of ${apiHeap.totalMb} MB)` : `${mb} MB`,
      baseline: '—',
      ratio: null,
      target: `< ${LIMIT_MB} MB`,
      pass: mb < LIMIT_MB,
    }));
    rows.push({
      metric: 'finished usage jobs in Redis',
      value: `${queues.usage.completed + queues.usage.failed}`,
      baseline: '—',
      ratio: null,
      target: `bounded (≤ ${queues.usage.bound})`,
      pass: queues.usage.completed + queues.usage.failed <= queues.usage.bound,
    });
    return { rssMb: rss, apiHeap, queues, redisUsedMemoryMb: usedMemoryMb, rows };
  } finally {
    redis.disconnect();
  }
}
