import { AppError } from '../errors.js';
import type { Keyring } from './keyring.js';
import { seal, sealedKeyId, unseal, type SealContext } from './sealed.js';

/**
 * A secret as a row stores it: sealed in the application (the current form),
 * or, for rows written before sealing, the pgcrypto ciphertext that
 * `pgp_sym_encrypt(…, key, 'cipher-algo=aes256')` made inside PostgreSQL.
 * Every reader and the rotation open both through `openStoredSecret`, in the
 * application: a key never goes to the database, not even to read old rows.
 */
export interface StoredSecret {
  sealed: string | null;
  legacy: Uint8Array | null;
  /** The key the value was made with (for a sealed value it is also inside the text). */
  keyId: string | null;
}

export async function openStoredSecret(keyring: Keyring, stored: StoredSecret, context: SealContext): Promise<string> {
  if (stored.sealed !== null) return unseal(keyring, stored.sealed, context);
  if (stored.legacy !== null) return openLegacy(keyring, stored.legacy, stored.keyId);
  throw new AppError('internal_error', 'a stored secret is missing');
}

/** The columns a row gets when its secret is (re-)sealed under the current key; the legacy column is emptied. */
export function sealForStorage(keyring: Keyring, plaintext: string, context: SealContext) {
  const sealed = seal(keyring, plaintext, context);
  return { sealed, keyId: sealedKeyId(sealed)! };
}

/**
 * pgcrypto writes an OpenPGP symmetric message (RFC 4880: a password-derived
 * session key, then integrity-protected AES data), which the openpgp package
 * reads, MDC check included. The keyring entry itself was the password. The
 * package is loaded only when a legacy row turns up: after a deployment has
 * rotated once, no process pays for it.
 */
async function openLegacy(keyring: Keyring, ciphertext: Uint8Array, keyId: string | null): Promise<string> {
  const key = keyId === null ? undefined : keyring.byId.get(keyId);
  if (key === undefined)
    throw new AppError(
      'internal_error',
      `a stored secret was encrypted with key "${keyId ?? '(none)'}", which is not in the keyring`,
    );
  const openpgp = await import('openpgp');
  try {
    const message = await openpgp.readMessage({ binaryMessage: ciphertext });
    const { data } = await openpgp.decrypt({ message, passwords: [key], format: 'binary' });
    return Buffer.from(data).toString('utf8');
  } catch {
    // The library's own words are not ours to pass on; the key id is not secret.
    throw new AppError(
      'internal_error',
      `a stored secret (legacy pgcrypto form) does not open with key "${keyId}": it was changed, or made with another key`,
    );
  }
}
