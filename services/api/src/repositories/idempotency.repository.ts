import { sql, type DatabasePool } from '@deeplens/shared';
import { z } from 'zod';

const keyRow = z.object({
  request_hash: z.string(),
  state: z.enum(['pending', 'done']),
  status_code: z.number().nullable(),
  response_headers: z.record(z.string()).nullable(),
  response_body: z.unknown(),
  stale: z.boolean(),
});

/** A claim on a key older than this is taken to belong to a request that died. */
const PENDING_TIMEOUT_SECONDS = 60;

export function createIdempotencyRepository(pool: DatabasePool) {
  return {
    /** Claims the key for this request; returns the existing record when someone had it first. */
    async claim(key: string, principal: string, requestHash: string) {
      const claimed = await pool.maybeOneFirst(sql.type(z.object({ key: z.string() }))`
        INSERT INTO idempotency_keys (key, principal, request_hash, state)
        VALUES (${key}, ${principal}, ${requestHash}, 'pending')
        ON CONFLICT (key) DO UPDATE SET request_hash = excluded.request_hash, state = 'pending',
               created_at = now(), expires_at = now() + interval '24 hours', status_code = NULL,
               response_headers = NULL, response_body = NULL
         WHERE idempotency_keys.expires_at < now()
            OR (idempotency_keys.state = 'pending'
                AND idempotency_keys.request_hash = excluded.request_hash
                AND idempotency_keys.created_at < now() - make_interval(secs => ${PENDING_TIMEOUT_SECONDS}))
        RETURNING key`);
      if (claimed) return { claimed: true as const };
      const existing = await pool.maybeOne(sql.type(keyRow)`
        SELECT request_hash, state, status_code, response_headers, response_body,
               created_at < now() - make_interval(secs => ${PENDING_TIMEOUT_SECONDS}) AS stale
          FROM idempotency_keys WHERE key = ${key}`);
      return { claimed: false as const, existing };
    },

    async complete(key: string, statusCode: number, headers: Record<string, string>, body: unknown) {
      await pool.query(sql.typeAlias('void')`
        UPDATE idempotency_keys
           SET state = 'done', status_code = ${statusCode}, response_headers = ${sql.jsonb(headers)},
               response_body = ${sql.jsonb(body as never)}
         WHERE key = ${key}`);
    },

    /** A request that failed on our side leaves the key free for the client's retry. */
    async release(key: string) {
      await pool.query(sql.typeAlias('void')`DELETE FROM idempotency_keys WHERE key = ${key} AND state = 'pending'`);
    },
  };
}

export type IdempotencyRepository = ReturnType<typeof createIdempotencyRepository>;
