import type { DatabasePool } from 'slonik';
import { z } from 'zod';
import { sql } from '../db/sql.js';
import type { Logger } from '../logger.js';
import type { Keyring } from './keyring.js';

/**
 * Re-encrypts every storage config under the keyring's current (first) key,
 * while the system runs. One row per transaction: the row is locked
 * (`FOR UPDATE SKIP LOCKED`, so a config being saved right now is left to its
 * writer, who encrypts under the current key anyway), decrypted with the key
 * its `key_id` names and encrypted again inside PostgreSQL, keys passed only as
 * bind parameters. The version is not bumped: the config's content is the
 * same, so verifications in flight stay valid. Safe to stop at any moment and
 * to run again: it only touches rows not yet under the current key.
 */

export interface RotationReport {
  /** The key everything is now encrypted under. */
  currentKeyId: string;
  /** Re-encrypted by this run. */
  rotated: number;
  /** Already under the current key when the run began. */
  alreadyCurrent: number;
  /** Rows this run could not re-encrypt, with the reason (never a key or a secret). */
  failed: Array<{ tenantId: string; keyId: string | null; reason: string }>;
  /** Rows still not under the current key when the run ended (failed ones, or locked by a writer throughout). */
  remaining: number;
  /** Rows per key id after the run. */
  byKeyId: Record<string, number>;
}

const keyArrays = (keyring: Keyring) => ({
  ids: sql.array([...keyring.byId.keys()], 'text'),
  keys: sql.array([...keyring.byId.values()], 'text'),
});

async function countByKeyId(pool: DatabasePool): Promise<Record<string, number>> {
  const rows = await pool.any(sql.type(z.object({ key_id: z.string().nullable(), n: z.number() }))`
    SELECT key_id, count(*)::int AS n FROM tenant_storage_configs WHERE secrets IS NOT NULL GROUP BY key_id`);
  return Object.fromEntries(rows.map((row) => [row.key_id ?? '(none)', row.n]));
}

export async function rotateStorageKeys(
  pool: DatabasePool,
  keyring: Keyring,
  options: { log?: Logger; signal?: AbortSignal } = {},
): Promise<RotationReport> {
  const current = keyring.current;
  const before = await countByKeyId(pool);
  const failed: RotationReport['failed'] = [];
  let rotated = 0;

  for (;;) {
    if (options.signal?.aborted) break;
    const skip = sql.array(failed.map((entry) => entry.tenantId), 'uuid');
    const outcome = await pool.transaction(async (trx) => {
      const row = await trx.maybeOne(sql.type(z.object({ tenant_id: z.string(), key_id: z.string().nullable() }))`
        SELECT tenant_id, key_id FROM tenant_storage_configs
         WHERE secrets IS NOT NULL AND key_id IS DISTINCT FROM ${current.id} AND tenant_id <> ALL(${skip})
         ORDER BY tenant_id
         LIMIT 1
         FOR UPDATE SKIP LOCKED`);
      if (!row) return null;
      if (!row.key_id || !keyring.byId.has(row.key_id)) {
        return { tenantId: row.tenant_id, keyId: row.key_id, error: `key "${row.key_id ?? '(none)'}" is not in the keyring` };
      }
      const { ids, keys } = keyArrays(keyring);
      try {
        // A savepoint, so a ciphertext that does not decrypt fails this row alone.
        const updated = await trx.transaction(async (savepoint) =>
          savepoint.query(sql.typeAlias('void')`
            UPDATE tenant_storage_configs c
               SET secrets = pgp_sym_encrypt(pgp_sym_decrypt(c.secrets, k.key), ${current.key}, 'cipher-algo=aes256'),
                   key_id = ${current.id}
              FROM unnest(${ids}::text[], ${keys}::text[]) AS k (id, key)
             WHERE c.tenant_id = ${row.tenant_id} AND k.id = c.key_id`),
        );
        if (updated.rowCount !== 1) return { tenantId: row.tenant_id, keyId: row.key_id, error: 'the row changed under the rotation' };
      } catch (error) {
        // pgcrypto's own words ("Wrong key or corrupt data") name no key; anything else is reported by name only.
        const message = (error as Error).message ?? '';
        const reason = /wrong key|corrupt data/i.test(message)
          ? `the ciphertext does not decrypt with key "${row.key_id}"`
          : `re-encryption failed (${(error as Error).name ?? 'error'})`;
        return { tenantId: row.tenant_id, keyId: row.key_id, error: reason };
      }
      return { tenantId: row.tenant_id, keyId: row.key_id, error: null };
    });
    if (!outcome) break;
    if (outcome.error) {
      failed.push({ tenantId: outcome.tenantId, keyId: outcome.keyId, reason: outcome.error });
      options.log?.warn({ tenantId: outcome.tenantId, keyId: outcome.keyId, reason: outcome.error }, 'could not re-encrypt a storage config');
    } else {
      rotated += 1;
      options.log?.debug({ tenantId: outcome.tenantId, from: outcome.keyId, to: current.id }, 'storage config re-encrypted');
    }
  }

  const byKeyId = await countByKeyId(pool);
  const remaining = Object.entries(byKeyId).reduce((sum, [id, n]) => sum + (id === current.id ? 0 : n), 0);
  return { currentKeyId: current.id, rotated, alreadyCurrent: before[current.id] ?? 0, failed, remaining, byKeyId };
}
