import type { Redis } from 'ioredis';
import { meteringKeys } from './metering-redis.js';

/**
 * Follows tenant changes announced on `<prefix>:metering:tenant-changed`, so
 * every API replica can drop what it cached about a tenant the moment its
 * status, plan or limit changes. Messages sent while the connection was down
 * are lost, so every (re)connection calls `onResync` to drop everything.
 * `subscriber` must be a connection of its own: a subscribed connection
 * cannot run other commands.
 */
export function followTenantChanges(
  subscriber: Redis,
  prefix: string,
  handlers: { onChange: (tenantId: string) => void; onResync: () => void },
): { close(): void } {
  const channel = meteringKeys(prefix).tenantChanged;
  const onMessage = (from: string, tenantId: string) => {
    if (from === channel) handlers.onChange(tenantId);
  };
  const onReady = () => {
    handlers.onResync();
    subscriber.subscribe(channel).catch(() => undefined);
  };
  subscriber.on('message', onMessage);
  subscriber.on('ready', onReady);
  // Failures show up as reconnections; the caches stay bounded by their TTL meanwhile.
  subscriber.on('error', () => undefined);
  if (subscriber.status === 'ready') onReady();
  return {
    close() {
      subscriber.off('message', onMessage);
      subscriber.off('ready', onReady);
      subscriber.disconnect();
    },
  };
}
