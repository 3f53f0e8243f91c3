import type { CommonQueryMethods, DatabasePool, DatabaseTransactionConnection } from 'slonik';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Keyring } from './keyring.js';
import type { SealContext } from './sealed.js';
import { sealForStorage } from './stored-secret.js';

/**
 * Re-seals every stored secret (storage configs, webhook signing secrets)
 * under the keyring's current (first) key, while the system runs, and moves
 * rows still in the legacy pgcrypto form into the sealed one. One row per
 * transaction: the row is locked (`FOR UPDATE SKIP LOCKED`, so a config being
 * saved right now is left to its writer, who seals under the current key
 * anyway), opened in the application exactly as readers open it, sealed again
 * and its legacy column emptied. No key goes to PostgreSQL. A storage config's
 * version is not bumped: its content is the same, so verifications in flight
 * stay valid. Safe to stop at any moment and to run again: it only touches
 * rows not yet sealed under the current key.
 */

/** A table of sealed secrets, as the rotation drives it; each repository describes its own. */
export interface SealedStore {
  kind: 'storage_config' | 'webhook_secret';
  /** Locks the next row that is legacy or sealed under another key than `currentKeyId`, skipping `skip`. */
  lockNext(
    trx: DatabaseTransactionConnection,
    currentKeyId: string,
    skip: readonly string[],
  ): Promise<LockedSecret | null>;
  /** Writes the re-sealed value and empties the legacy column; false if the row is gone. */
  store(trx: DatabaseTransactionConnection, id: string, sealed: { sealed: string; keyId: string }): Promise<boolean>;
  /** Rows per key id; legacy rows as `pgcrypto:<key id>`. */
  countByKeyId(db: CommonQueryMethods): Promise<Record<string, number>>;
}

interface LockedSecret {
  id: string;
  keyId: string | null;
  legacy: boolean;
  /** What the value is sealed for (its owner and kind). */
  context: SealContext;
  /** The plaintext to seal, opened as readers open it. */
  open(keyring: Keyring): Promise<string>;
}

export interface RotationReport {
  /** The key everything is now sealed under. */
  currentKeyId: string;
  /** Re-sealed by this run (legacy rows included). */
  rotated: number;
  /** Of those, rows moved from the legacy pgcrypto form. */
  migratedLegacy: number;
  /** Already sealed under the current key when the run began. */
  alreadyCurrent: number;
  /** Rows this run could not re-seal, with the reason (never a key or a secret). `id` is the tenant id of a storage config. */
  failed: Array<{ kind: SealedStore['kind']; id: string; keyId: string | null; reason: string }>;
  /** Rows not sealed under the current key when the run ended (failed ones, or locked by a writer throughout). */
  remaining: number;
  /** Rows per kind and key id after the run; legacy rows as `pgcrypto:<key id>`. */
  byKeyId: Record<SealedStore['kind'], Record<string, number>>;
}

async function counts(pool: DatabasePool, stores: readonly SealedStore[]) {
  const entries = await Promise.all(stores.map(async (store) => [store.kind, await store.countByKeyId(pool)] as const));
  return Object.fromEntries(entries) as RotationReport['byKeyId'];
}

async function rotateSealedSecrets(
  pool: DatabasePool,
  keyring: Keyring,
  stores: readonly SealedStore[],
  options: { log?: Logger; signal?: AbortSignal } = {},
): Promise<RotationReport> {
  const current = keyring.current;
  const before = await counts(pool, stores);
  const failed: RotationReport['failed'] = [];
  let rotated = 0;
  let migratedLegacy = 0;

  for (const store of stores) {
    for (;;) {
      if (options.signal?.aborted) break;
      const skip = failed.filter((entry) => entry.kind === store.kind).map((entry) => entry.id);
      const outcome = await pool.transaction(async (trx) => {
        const row = await store.lockNext(trx, current.id, skip);
        if (!row) return null;
        try {
          const sealed = sealForStorage(keyring, await row.open(keyring), row.context);
          if (!(await store.store(trx, row.id, sealed))) return { row, error: 'the row changed under the rotation' };
          return { row, error: null };
        } catch (error) {
          // Our own sentences (a key id missing from the keyring, a value that does not open) pass; nothing else is quoted.
          return {
            row,
            error:
              error instanceof AppError ? error.message : `re-sealing failed (${(error as Error).name ?? 'error'})`,
          };
        }
      });
      if (!outcome) break;
      const { row, error } = outcome;
      if (error) {
        failed.push({ kind: store.kind, id: row.id, keyId: row.keyId, reason: error });
        options.log?.warn(
          { kind: store.kind, id: row.id, keyId: row.keyId, reason: error },
          'could not re-seal a stored secret',
        );
      } else {
        rotated += 1;
        if (row.legacy) migratedLegacy += 1;
        options.log?.debug(
          { kind: store.kind, id: row.id, from: row.keyId, legacy: row.legacy, to: current.id },
          'stored secret re-sealed',
        );
      }
    }
  }

  const byKeyId = await counts(pool, stores);
  const sum = (byKind: RotationReport['byKeyId'], keep: (id: string) => boolean) =>
    Object.values(byKind).reduce(
      (total, ids) => total + Object.entries(ids).reduce((n, [id, count]) => n + (keep(id) ? count : 0), 0),
      0,
    );
  return {
    currentKeyId: current.id,
    rotated,
    migratedLegacy,
    alreadyCurrent: sum(before, (id) => id === current.id),
    failed,
    remaining: sum(byKeyId, (id) => id !== current.id),
    byKeyId,
  };
}

/** Every table of sealed secrets: what `keys rotate` re-seals. */
export async function rotateKeys(
  pool: DatabasePool,
  keyring: Keyring,
  options: { log?: Logger; signal?: AbortSignal } = {},
) {
  const [{ sealedStorageConfigs }, { sealedWebhookSecrets }] = await Promise.all([
    import('../repositories/storage-configs.repository.js'),
    import('../events/webhooks.js'),
  ]);
  return rotateSealedSecrets(pool, keyring, [sealedStorageConfigs, sealedWebhookSecrets], options);
}
