import type { CommonQueryMethods } from 'slonik';
import { z } from 'zod';
import type { Keyring } from '../crypto/keyring.js';
import { sql } from '../db/sql.js';
import { AppError } from '../errors.js';
import { maskedConfig, splitSecrets, type StorageProvider } from '../schemas/storage.js';

/**
 * Tenant storage configs. Secret fields are encrypted in PostgreSQL with
 * pgcrypto (pgp_sym_encrypt, AES-256) under the keyring's current key, passed
 * as a bind parameter so it never stands in SQL text or statement logs. The
 * key id is stored beside the ciphertext for reading after a rotation.
 */

const storageRow = z.object({
  tenant_id: z.string(),
  provider: z.string(),
  settings: z.record(z.unknown()),
  version: z.number(),
  key_id: z.string().nullable(),
  is_platform_default: z.boolean(),
  status: z.enum(['unverified', 'verifying', 'verified', 'failed']),
  last_tested_at: z.number().nullable(),
  last_error: z.object({ code: z.string(), message: z.string() }).nullable(),
});

const decryptedRow = storageRow.extend({ secrets: z.string().nullable() });

/** The keyring as two parallel arrays, to choose the right key inside the query. */
const keyArrays = (keyring: Keyring) => ({
  ids: sql.array([...keyring.byId.keys()], 'text'),
  keys: sql.array([...keyring.byId.values()], 'text'),
});

export function storageConfigView(row: z.infer<typeof storageRow>) {
  return {
    provider: row.provider,
    status: row.status,
    lastTestedAt: row.last_tested_at === null ? null : new Date(row.last_tested_at).toISOString(),
    lastError: row.last_error,
    config: maskedConfig(row.provider as StorageProvider, row.settings),
    version: row.version,
    isPlatformDefault: row.is_platform_default,
  };
}

export interface StoredStorageConfig {
  tenantId: string;
  provider: StorageProvider;
  version: number;
  status: string;
  config: Record<string, unknown>;
}

export const storageConfigsRepository = {
  /**
   * Stores a tenant's config, replacing any earlier one; each replacement bumps
   * the version so verifications of an older config can tell they are stale.
   */
  async save(
    db: CommonQueryMethods,
    input: { tenantId: string; provider: StorageProvider; config: Record<string, unknown>; isPlatformDefault?: boolean },
    keyring: Keyring,
    options: { onlyIfMissing?: boolean } = {},
  ): Promise<number | null> {
    const { settings, secrets } = splitSecrets(input.provider, input.config);
    const ciphertext = sql.fragment`pgp_sym_encrypt(${JSON.stringify(secrets)}, ${keyring.current.key}, 'cipher-algo=aes256')`;
    const onConflict = options.onlyIfMissing
      ? sql.fragment`DO NOTHING`
      : sql.fragment`DO UPDATE SET provider = excluded.provider, settings = excluded.settings,
          secrets = excluded.secrets, key_id = excluded.key_id, is_platform_default = excluded.is_platform_default,
          version = tenant_storage_configs.version + 1, status = 'unverified', last_error = NULL,
          updated_at = now()`;
    return db.maybeOneFirst(sql.type(z.object({ version: z.number() }))`
      INSERT INTO tenant_storage_configs (tenant_id, provider, settings, secrets, key_id, is_platform_default)
      VALUES (${input.tenantId}, ${input.provider}, ${sql.jsonb(settings as never)}, ${ciphertext},
              ${keyring.current.id}, ${input.isPlatformDefault ?? false})
      ON CONFLICT (tenant_id) ${onConflict}
      RETURNING version`);
  },

  async findView(db: CommonQueryMethods, tenantId: string) {
    const row = await db.maybeOne(sql.type(storageRow)`
      SELECT tenant_id, provider, settings, version, key_id, is_platform_default, status, last_tested_at, last_error
        FROM tenant_storage_configs WHERE tenant_id = ${tenantId}`);
    return row ? storageConfigView(row) : null;
  },

  /** The full config with secrets, for the worker that must use it. Never send this anywhere. */
  async readDecrypted(db: CommonQueryMethods, tenantId: string, keyring: Keyring): Promise<StoredStorageConfig | null> {
    const { ids, keys } = keyArrays(keyring);
    const row = await db.maybeOne(sql.type(decryptedRow)`
      SELECT c.tenant_id, c.provider, c.settings, c.version, c.key_id, c.is_platform_default, c.status,
             c.last_tested_at, c.last_error,
             CASE WHEN c.secrets IS NULL THEN NULL ELSE pgp_sym_decrypt(c.secrets, k.key) END AS secrets
        FROM tenant_storage_configs c
        LEFT JOIN unnest(${ids}::text[], ${keys}::text[]) AS k (id, key) ON k.id = c.key_id
       WHERE c.tenant_id = ${tenantId}`).catch((error: Error) => {
      // pgcrypto names the failure; the key never appears in it, but say it in our words.
      if (/Wrong key|corrupt data/i.test(error.message)) {
        throw new AppError('internal_error', 'the storage config cannot be decrypted with the configured keyring');
      }
      throw error;
    });
    if (!row) return null;
    if (row.key_id && !keyring.byId.has(row.key_id)) {
      throw new AppError('internal_error', `the storage config was encrypted with key "${row.key_id}", which is not in the keyring`);
    }
    const secrets = row.secrets ? (JSON.parse(row.secrets) as Record<string, unknown>) : {};
    return {
      tenantId: row.tenant_id,
      provider: row.provider as StorageProvider,
      version: row.version,
      status: row.status,
      config: { ...row.settings, ...secrets },
    };
  },

  async remove(db: CommonQueryMethods, tenantId: string): Promise<void> {
    await db.query(sql.typeAlias('void')`DELETE FROM tenant_storage_configs WHERE tenant_id = ${tenantId}`);
  },
};
