import type { CommonQueryMethods } from 'slonik';
import { z } from 'zod';
import type { Keyring } from '../crypto/keyring.js';
import { openStoredSecret, sealForStorage, type StoredSecret } from '../crypto/stored-secret.js';
import type { SealedStore } from '../crypto/rotate-keys.js';
import { sql } from '../db/sql.js';
import { maskedConfig, splitSecrets, type StorageProvider } from '../schemas/storage.js';

/**
 * Tenant storage configs. The whole config, settings and secrets together, is
 * sealed in the application for [tenant id, 'storage', provider]
 * (crypto/sealed.ts): no key reaches PostgreSQL, and a sealed value copied
 * onto another tenant's row does not open. Workers use only what opens;
 * `settings` (the non-secret fields in clear) serves the masked view alone.
 * Rows from before sealing hold pgcrypto ciphertext of the secret fields,
 * opened in the application too until `keys rotate` re-seals them.
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

const secretColumns = z.object({ sealed: z.string().nullable(), secrets: z.instanceof(Buffer).nullable() });
const storedRow = storageRow.extend(secretColumns.shape);

const storageContext = (tenantId: string, provider: string) => [tenantId, 'storage', provider];
const storedSecret = (row: z.infer<typeof secretColumns> & { key_id: string | null }): StoredSecret => ({
  sealed: row.sealed,
  legacy: row.secrets,
  keyId: row.key_id,
});

/** The config a row holds: the sealed whole, or (legacy rows) the clear settings with the secret fields opened. */
async function openConfig(keyring: Keyring, row: z.infer<typeof storedRow>): Promise<Record<string, unknown>> {
  const plaintext = await openStoredSecret(keyring, storedSecret(row), storageContext(row.tenant_id, row.provider));
  const opened = JSON.parse(plaintext) as Record<string, unknown>;
  return row.sealed !== null ? opened : { ...row.settings, ...opened };
}

function storageConfigView(row: z.infer<typeof storageRow>) {
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
    input: {
      tenantId: string;
      provider: StorageProvider;
      config: Record<string, unknown>;
      isPlatformDefault?: boolean;
    },
    keyring: Keyring,
    options: { onlyIfMissing?: boolean } = {},
  ): Promise<number | null> {
    const { settings } = splitSecrets(input.provider, input.config);
    const { sealed, keyId } = sealForStorage(
      keyring,
      JSON.stringify(input.config),
      storageContext(input.tenantId, input.provider),
    );
    const onConflict = options.onlyIfMissing
      ? sql.fragment`DO NOTHING`
      : sql.fragment`DO UPDATE SET provider = excluded.provider, settings = excluded.settings,
          sealed = excluded.sealed, secrets = NULL, key_id = excluded.key_id, is_platform_default = excluded.is_platform_default,
          version = tenant_storage_configs.version + 1, status = 'unverified', last_error = NULL,
          updated_at = now()`;
    return db.maybeOneFirst(sql.type(z.object({ version: z.number() }))`
      INSERT INTO tenant_storage_configs (tenant_id, provider, settings, sealed, key_id, is_platform_default)
      VALUES (${input.tenantId}, ${input.provider}, ${sql.jsonb(settings as never)}, ${sealed},
              ${keyId}, ${input.isPlatformDefault ?? false})
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
    const row = await db.maybeOne(sql.type(storedRow)`
      SELECT tenant_id, provider, settings, version, key_id, is_platform_default, status, last_tested_at, last_error,
             sealed, secrets
        FROM tenant_storage_configs WHERE tenant_id = ${tenantId}`);
    if (!row) return null;
    return {
      tenantId: row.tenant_id,
      provider: row.provider as StorageProvider,
      version: row.version,
      status: row.status,
      config: await openConfig(keyring, row),
    };
  },

  async remove(db: CommonQueryMethods, tenantId: string): Promise<void> {
    await db.query(sql.typeAlias('void')`DELETE FROM tenant_storage_configs WHERE tenant_id = ${tenantId}`);
  },
};

/** Storage configs as `keys rotate` sees them: re-sealed whole, legacy rows included (their clear settings join the sealed value). */
export const sealedStorageConfigs: SealedStore = {
  kind: 'storage_config',

  async lockNext(trx, currentKeyId, skip) {
    const row = await trx.maybeOne(sql.type(storedRow)`
      SELECT tenant_id, provider, settings, version, key_id, is_platform_default, status, last_tested_at, last_error,
             sealed, secrets
        FROM tenant_storage_configs
       WHERE (secrets IS NOT NULL OR (sealed IS NOT NULL AND key_id IS DISTINCT FROM ${currentKeyId}))
         AND tenant_id <> ALL(${sql.array(skip, 'uuid')})
       ORDER BY tenant_id
       LIMIT 1
       FOR UPDATE SKIP LOCKED`);
    if (!row) return null;
    return {
      id: row.tenant_id,
      keyId: row.key_id,
      legacy: row.secrets !== null,
      context: storageContext(row.tenant_id, row.provider),
      open: async (keyring) => JSON.stringify(await openConfig(keyring, row)),
    };
  },

  async store(trx, id, { sealed, keyId }) {
    const result = await trx.query(sql.typeAlias('void')`
      UPDATE tenant_storage_configs SET sealed = ${sealed}, secrets = NULL, key_id = ${keyId} WHERE tenant_id = ${id}`);
    return result.rowCount === 1;
  },

  async countByKeyId(db) {
    const rows = await db.any(sql.type(z.object({ key_id: z.string(), n: z.number() }))`
      SELECT CASE WHEN secrets IS NOT NULL THEN 'pgcrypto:' ELSE '' END || coalesce(key_id, '(none)') AS key_id, count(*)::int AS n
        FROM tenant_storage_configs WHERE sealed IS NOT NULL OR secrets IS NOT NULL GROUP BY 1`);
    return Object.fromEntries(rows.map((row) => [row.key_id, row.n]));
  },
};
