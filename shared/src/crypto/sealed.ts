import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { AppError } from '../errors.js';
import type { Keyring } from './keyring.js';

/**
 * Secrets sealed in the application: AES-256-GCM under a key derived from the
 * keyring, a random 96-bit nonce per seal, and additional authenticated data
 * naming what the secret belongs to (its tenant, its kind, the key id). The
 * database only ever sees the sealed text, and keys never travel to it. A
 * sealed value copied onto another tenant's row, or read as another kind of
 * secret, fails to open: the AAD no longer matches.
 *
 * Format: `v1.<key id>.<nonce b64url>.<ciphertext b64url>.<tag b64url>`.
 */

const VERSION = 'v1';
const NONCE_BYTES = 12;

const derivedKeys = new WeakMap<Keyring, Map<string, Buffer>>();

/** 32 bytes per (key id, purpose), derived with HKDF-SHA256 so one keyring entry serves several purposes. */
function derive(keyring: Keyring, keyId: string, purpose: 'seal' | 'mac'): Buffer {
  let cache = derivedKeys.get(keyring);
  if (!cache) {
    cache = new Map();
    derivedKeys.set(keyring, cache);
  }
  const cacheKey = `${keyId}\u0000${purpose}`;
  let key = cache.get(cacheKey);
  if (!key) {
    const material = keyring.byId.get(keyId);
    if (material === undefined) throw new AppError('internal_error', `key "${keyId}" is not in the keyring`);
    key = Buffer.from(hkdfSync('sha256', material, 'deeplens', `deeplens ${purpose} v1`, 32));
    cache.set(cacheKey, key);
  }
  return key;
}

/** What a sealed secret belongs to; every part is bound into the ciphertext. */
export type SealContext = readonly string[];

const aad = (keyId: string, context: SealContext) => Buffer.from(JSON.stringify([VERSION, keyId, ...context]));

export function seal(keyring: Keyring, plaintext: string, context: SealContext): string {
  const keyId = keyring.current.id;
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', derive(keyring, keyId, 'seal'), nonce);
  cipher.setAAD(aad(keyId, context));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return [
    VERSION,
    keyId,
    nonce.toString('base64url'),
    ciphertext.toString('base64url'),
    cipher.getAuthTag().toString('base64url'),
  ].join('.');
}

/** The key id a sealed value was made under, or null for text that is not a sealed value. */
export function sealedKeyId(sealed: string): string | null {
  const parts = sealed.split('.');
  return parts.length === 5 && parts[0] === VERSION ? parts[1]! : null;
}

/**
 * Opens a sealed value for the same context. Fails (internal_error, in words
 * that name no key and no secret) if the key id is not in the keyring, the
 * text was changed, or it was sealed for another context.
 */
export function unseal(keyring: Keyring, sealed: string, context: SealContext): string {
  const parts = sealed.split('.');
  if (parts.length !== 5 || parts[0] !== VERSION)
    throw new AppError('internal_error', 'a stored secret is not in the sealed format');
  const [, keyId, nonce, ciphertext, tag] = parts as [string, string, string, string, string];
  if (!keyring.byId.has(keyId))
    throw new AppError('internal_error', `a stored secret was sealed with key "${keyId}", which is not in the keyring`);
  try {
    const decipher = createDecipheriv('aes-256-gcm', derive(keyring, keyId, 'seal'), Buffer.from(nonce, 'base64url'));
    decipher.setAAD(aad(keyId, context));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
  } catch {
    throw new AppError(
      'internal_error',
      'a stored secret does not open: it was changed, or it belongs to another tenant or purpose',
    );
  }
}

/**
 * A keyed digest (HMAC-SHA256 under a key derived from the keyring's key
 * `keyId`, by default the current one) for values that must be compared but
 * not kept, such as idempotency request fingerprints: without the key, a
 * stored digest cannot be tested against guessed bodies.
 */
export function keyedDigest(keyring: Keyring, value: string, keyId = keyring.current.id): string {
  return `${keyId}.${createHmac('sha256', derive(keyring, keyId, 'mac'))
    .update(value)
    .digest('base64url')}`;
}
