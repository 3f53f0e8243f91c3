import type { StorageConfigOf, StorageProvider } from '@deeplens/shared';
import { probeAzureBlob } from './azure-blob.probe.js';
import { probeGcs } from './gcs.probe.js';
import { probeMinio } from './minio.probe.js';
import { probeNfs } from './nfs.probe.js';
import { probeS3 } from './s3.probe.js';
import { probeSmb } from './smb.probe.js';
import type { ProbeOptions, ProbeResult } from './types.js';

export type { ProbeFailure, ProbeOptions, ProbeResult, ProbeStep } from './types.js';

const probes: { [P in StorageProvider]: (config: StorageConfigOf<P>, options: ProbeOptions) => Promise<ProbeResult> } =
  {
    azure_blob: probeAzureBlob,
    aws_s3: probeS3,
    gcs: probeGcs,
    minio: probeMinio,
    nfs: probeNfs,
    smb: probeSmb,
  };

/**
 * Verifies a tenant's storage: writes a small object under `.deeplens-probe/`,
 * reads it back (SHA-256 compared), lists it (one item) and deletes it.
 * Never throws: every failure comes back as `ok: false` with a classified error.
 */
export async function probeStorage<P extends StorageProvider>(
  provider: P,
  config: StorageConfigOf<P>,
  options: ProbeOptions,
): Promise<ProbeResult> {
  const probe = probes[provider] as
    | ((config: StorageConfigOf<P>, options: ProbeOptions) => Promise<ProbeResult>)
    | undefined;
  if (!probe) {
    return {
      ok: false,
      steps: [],
      totalMs: 0,
      error: {
        code: 'provider_error',
        message: `storage provider "${String(provider)}" is not supported`,
        retryable: false,
      },
    };
  }
  return probe(config, options);
}
