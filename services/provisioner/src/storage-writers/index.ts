import {
  AppError,
  type EgressPolicy,
  type NfsRules,
  type StorageConfigOf,
  type StoredStorageConfig,
} from '@deeplens/shared';
import { azureBlobStore } from './azure-blob.writer.js';
import { gcsStore } from './gcs.writer.js';
import { nfsStore } from './nfs.writer.js';
import { awsS3Store, minioStore } from './s3.writer.js';
import type { BackupStore } from './types.js';

export type { BackupStore } from './types.js';

/** What a store needs beyond the config: the egress policy for network storage, the tenant and DEEPLENS_NFS_ROOTS for NFS. */
export interface BackupStoreContext {
  egress: EgressPolicy;
  /** For NFS storage: a tenant's backups go under its own folder (the platform's own backups never use NFS). */
  tenantId?: string;
  nfs?: NfsRules;
}

/**
 * The backup store for a decrypted storage config, connecting only where the
 * egress policy allows; SMB is refused with a clear conflict.
 */
export function openBackupStore(
  stored: Pick<StoredStorageConfig, 'provider' | 'config'>,
  context: BackupStoreContext,
): BackupStore {
  const { egress } = context;
  const config = stored.config as never;
  switch (stored.provider) {
    case 'aws_s3':
      return awsS3Store(config as StorageConfigOf<'aws_s3'>, egress);
    case 'minio':
      return minioStore(config as StorageConfigOf<'minio'>, egress);
    case 'azure_blob':
      return azureBlobStore(config as StorageConfigOf<'azure_blob'>, egress);
    case 'gcs':
      return gcsStore(config as StorageConfigOf<'gcs'>, egress);
    case 'nfs':
      if (!context.tenantId || !context.nfs)
        throw new AppError('internal_error', 'NFS backups need the tenant and the NFS rules');
      return nfsStore(config as StorageConfigOf<'nfs'>, context.tenantId, context.nfs);
    case 'smb':
      throw backupsNotSupported('smb');
    default:
      throw backupsNotSupported(stored.provider);
  }
}

function backupsNotSupported(provider: string): AppError {
  return new AppError(
    'conflict',
    `backups to ${provider} storage are not supported yet; configure S3, MinIO, Azure Blob, GCS or NFS storage`,
  );
}

/**
 * Backups and restores use only storage whose current config passed
 * verification: the API checks at the request, the job again, since the
 * config can change (and its verification fail) while the job waits.
 */
export function assertVerifiedStorage(stored: Pick<StoredStorageConfig, 'status'>): void {
  if (stored.status !== 'verified') {
    throw new AppError(
      'conflict',
      `the tenant's storage is ${stored.status}, not verified; backups and restores use verified storage only: fix or re-test it (POST /v1/tenants/:id/storage/test) and ask again`,
    );
  }
}
