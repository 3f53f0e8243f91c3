import { randomUUID } from 'node:crypto';
import {
  conflict,
  notFound,
  platformNames,
  storageConfigsRepository,
  writeAudit,
  type DatabasePool,
  type Outbox,
  type TenantsRepository,
} from '@deeplens/shared';
import type { CommonQueryMethods } from 'slonik';
import { backupsRepository as backups } from '../repositories/backups.repository.js';

/**
 * Backups and restores: each request is a row (the backup with the storage
 * key it will have, or the restore) and its job, recorded in one transaction
 * and queued after the commit (the outbox). The provisioner does the work;
 * these answer 202 with the job.
 */

type StorageView = Awaited<ReturnType<typeof storageConfigsRepository.findView>>;

/** Backups and restores use only storage whose current config passed verification (the job checks again). */
function assertVerified(
  tenant: { id: string; name: string },
  storage: StorageView,
  what: string,
): asserts storage is NonNullable<StorageView> {
  if (!storage)
    throw conflict(`tenant ${tenant.name} has no storage configured; backups go to the tenant's own storage`);
  if (storage.status !== 'verified') {
    throw conflict(
      `tenant ${tenant.name}'s storage is ${storage.status}, not verified; ${what} only with verified storage: fix or re-test it (POST /v1/tenants/${tenant.id}/storage/test)`,
    );
  }
}

/** Tenants whose database can be dumped or replaced. */
const LIVE = new Set(['active', 'suspended']);

/** `20240131T235959Z`: sorts by time in any listing of the bucket. */
const compactTimestamp = (date: Date) =>
  date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');

const backupStorageKey = (prefix: string, backupId: string, at = new Date()) =>
  `${prefix}/${compactTimestamp(at)}-${backupId}.dump`;

export interface BackupsServiceDeps {
  pool: DatabasePool;
  tenants: TenantsRepository;
  outbox: Outbox;
  /** The platform's default storage is configured (platform backups go there). */
  platformStorage: boolean;
  dbPrefix: string;
}

export function createBackupsService({ pool, tenants, outbox, platformStorage, dbPrefix }: BackupsServiceDeps) {
  async function loadLive(idOrName: string) {
    const tenant = await tenants.get(idOrName);
    if (!LIVE.has(tenant.status))
      throw conflict(
        `tenant ${tenant.name} is ${tenant.status}; only an active or suspended tenant can be backed up or restored`,
      );
    return tenant;
  }

  async function registeredDatabase(db: CommonQueryMethods, tenantId: string, name: string) {
    const database = await backups.registeredDatabase(db, tenantId);
    if (!database) throw conflict(`tenant ${name} has no database`);
    return database;
  }

  return {
    async backup(idOrName: string, actor: string) {
      const tenant = await loadLive(idOrName);
      const storage = await storageConfigsRepository.findView(pool, tenant.id);
      if (storage?.provider === 'smb') {
        throw conflict(
          'backups to smb storage are not supported yet; configure S3, MinIO, Azure Blob, GCS or NFS storage',
        );
      }
      assertVerified(tenant, storage, 'backups are made');
      const backupId = randomUUID();
      const jobId = await outbox.transaction(async (trx, record) => {
        const database = await registeredDatabase(trx, tenant.id, tenant.name);
        await backups.insertPending(trx, {
          id: backupId,
          tenantId: tenant.id,
          database,
          provider: storage.provider,
          storageKey: backupStorageKey('backups', backupId),
          requestedBy: actor,
        });
        await writeAudit(trx, { actor, action: 'tenant.backup.request', tenantId: tenant.id, details: { backupId } });
        return record.job('tenant.backup', { tenantId: tenant.id, backupId });
      });
      return { jobId, backupId };
    },

    async list(idOrName: string) {
      const tenant = await tenants.get(idOrName);
      const rows = await backups.list(pool, tenant.id);
      return {
        items: rows.map((row) => ({
          id: row.id,
          createdAt: new Date(row.created_at).toISOString(),
          sizeBytes: row.size_bytes,
          sha256: row.sha256,
          storageKey: row.storage_key,
          status: row.status,
        })),
      };
    },

    async restore(idOrName: string, input: { backupId: string; swap?: boolean }, actor: string) {
      const tenant = await loadLive(idOrName);
      assertVerified(tenant, await storageConfigsRepository.findView(pool, tenant.id), 'restores are read');
      const restoreId = randomUUID();
      const jobId = await outbox.transaction(async (trx, record) => {
        const status = await backups.statusOf(trx, tenant.id, input.backupId);
        if (status === null) throw notFound(`tenant ${tenant.name} has no backup ${input.backupId}`);
        if (status !== 'completed')
          throw conflict(`backup ${input.backupId} is ${status}; only a completed backup can be restored`);
        await backups.insertPendingRestore(trx, {
          id: restoreId,
          backupId: input.backupId,
          tenantId: tenant.id,
          swap: input.swap ?? false,
        });
        await writeAudit(trx, {
          actor,
          action: 'tenant.restore.request',
          tenantId: tenant.id,
          details: { backupId: input.backupId, restoreId, swap: input.swap ?? false },
        });
        return record.job('tenant.restore', {
          tenantId: tenant.id,
          backupId: input.backupId,
          restoreId,
          swap: input.swap ?? false,
        });
      });
      return { jobId, restoreId };
    },

    async backupPlatform(actor: string) {
      if (!platformStorage)
        throw conflict(
          'the platform has no default storage (DEEPLENS_DEFAULT_STORAGE); use `npm run backup:platform -- --out <file>`',
        );
      const backupId = randomUUID();
      const jobId = await outbox.transaction(async (trx, record) => {
        await backups.insertPending(trx, {
          id: backupId,
          tenantId: null,
          database: platformNames(dbPrefix).platformDatabase,
          provider: 'minio',
          storageKey: backupStorageKey('platform-backups', backupId),
          requestedBy: actor,
        });
        await writeAudit(trx, { actor, action: 'platform.backup.request', details: { backupId } });
        return record.job('platform.backup', { backupId });
      });
      return { jobId, backupId };
    },
  };
}

export type BackupsService = ReturnType<typeof createBackupsService>;
