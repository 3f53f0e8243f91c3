import { createHash } from 'node:crypto';

/**
 * The encryption keys of storage secrets. DEEPLENS_ENCRYPTION_KEY holds either
 * one key, or a keyring `id:key,id:key,…` whose FIRST entry encrypts and whose
 * others remain readable until a rotation has re-encrypted everything under the
 * first. Each ciphertext records the id of the key that made it.
 */
export interface Keyring {
  current: { id: string; key: string };
  byId: ReadonlyMap<string, string>;
}

const KEY_ID = /^[A-Za-z0-9_.-]{1,32}$/;

export function parseKeyring(value: string): Keyring {
  const entries = value
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      const colon = entry.indexOf(':');
      // A bare key gets an id derived from it, so the same key always has the same id.
      if (colon < 0) return { id: `k-${createHash('sha256').update(entry).digest('hex').slice(0, 8)}`, key: entry };
      return { id: entry.slice(0, colon), key: entry.slice(colon + 1) };
    });
  if (entries.length === 0) throw new Error('the keyring is empty');
  const byId = new Map<string, string>();
  for (const { id, key } of entries) {
    if (!KEY_ID.test(id)) throw new Error(`key id "${id}" must be 1-32 letters, digits, _ . -`);
    if (key.length < 16) throw new Error(`key "${id}" is shorter than 16 characters`);
    if (byId.has(id)) throw new Error(`key id "${id}" appears twice`);
    byId.set(id, key);
  }
  return { current: entries[0]!, byId };
}

/** Development only: a fixed, publicly known key, so a laptop needs no setup. Refused elsewhere. */
export const DEVELOPMENT_ENCRYPTION_KEY = 'dev:deeplens-development-only-key';
