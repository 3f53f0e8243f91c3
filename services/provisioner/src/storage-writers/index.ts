import { AppError, type NfsRules, type StorageConfigOf, type StoredStorageConfig } from '@deeplens/shared';
import { azureBlobStore } from './azure-blob.writer.js';
import { gcsStore } from './gcs.writer.js';
import { nfsStore } from './nfs.writer.js';
import { awsS3Store, minioStore } from './s3.writer.js';
import type { BackupStore } from './types.js';

export type { BackupStore } from './types.js';

/** What a store needs beyond the config: NFS writes under the tenant's folder, within DEEPLENS_NFS_ROOTS. */
export interface BackupStoreContext {
  tenantId?: string;
  nfs?: NfsRules;
}

/** The backup store for a decrypted storage config; SMB is refused with a clear conflict. */
export function openBackupStore(stored: Pick<StoredStorageConfig, 'provider' | 'config'>, context: BackupStoreContext = {}): BackupStore {
  const config = stored.config as never;
  switch (stored.provider) {
    case 'aws_s3':
      return awsS3Store(config as StorageConfigOf<'aws_s3'>);
    case 'minio':
      return minioStore(config as StorageConfigOf<'minio'>);
    case 'azure_blob':
      return azureBlobStore(config as StorageConfigOf<'azure_blob'>);
    case 'gcs':
      return gcsStore(config as StorageConfigOf<'gcs'>);
    case 'nfs':
      if (!context.tenantId || !context.nfs) throw new AppError('internal_error', 'NFS backups need the tenant and the NFS rules');
      return nfsStore(config as StorageConfigOf<'nfs'>, context.tenantId, context.nfs);
    case 'smb':
      throw backupsNotSupported('smb');
    default:
      throw backupsNotSupported(stored.provider);
  }
}

export function backupsNotSupported(provider: string): AppError {
  return new AppError('conflict', `backups to ${provider} storage are not supported yet; configure S3, MinIO, Azure Blob, GCS or NFS storage`);
}
