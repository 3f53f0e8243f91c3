import { open, opendir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import {
  confineMountPath,
  ensureFolders,
  isEgressForbidden,
  NFS_CREATE_FLAGS,
  NFS_READ_FLAGS,
  type StorageConfigOf,
} from '@deeplens/shared';
import {
  errorCodes,
  errorDetail,
  failure,
  PROBE_PREFIX,
  ProbeFailureError,
  providerFailure,
  runProbe,
  type ProbeOperations,
  type StepName,
} from './probe-runner.js';
import type { ProbeFailure, ProbeOptions, ProbeResult } from './types.js';

/**
 * Probes an NFS export through the path where it is mounted on the worker
 * (`mount_path`), with plain file-system calls, inside the tenant's own folder
 * `<mount_path>/<tenant id>/` (shared/src/egress/nfs-paths.ts: the mount
 * confined to DEEPLENS_NFS_ROOTS, no link followed). The probe never creates
 * the mount path itself: a missing path means the share is not mounted.
 */
export function probeNfs(config: StorageConfigOf<'nfs'>, options: ProbeOptions): Promise<ProbeResult> {
  const mountPath = config.mount_path.replace(/\/+$/, '') || '/';
  const tenantId = options.tenantId;
  const rules = { roots: options.nfsRoots, development: options.nfsUnconfined ?? false };
  let folder = join(mountPath, tenantId ?? '<tenant>');
  return runProbe(
    {
      target: `the path ${mountPath}`,
      secrets: [],
      open: async () => {
        if (!tenantId)
          throw new ProbeFailureError(
            providerFailure('the NFS probe was started without a tenant, so it has no folder to write in'),
          );
        const mount = await confineMountPath(mountPath, rules, tenantId);
        const info = await stat(mount.real).catch((error: unknown) => {
          throw new ProbeFailureError(classifyNfsError(error, 'write', mountPath, true));
        });
        if (!info.isDirectory())
          throw new ProbeFailureError(
            failure(
              'not_writable',
              `the path ${mountPath} is not a directory: set mount_path to the folder where the share is mounted`,
            ),
          );
        folder = join(mount.real, tenantId);
        return nfsOperations(mount.real, tenantId);
      },
      classify: (error, step) => classifyNfsError(error, step, folder, false),
    },
    options,
  );
}

function nfsOperations(mount: string, tenantId: string): ProbeOperations {
  const what = `the NFS folder of tenant ${tenantId}`;
  // Checked again before each step: a folder swapped for a link meanwhile is refused, not followed.
  const probeFolder = () => ensureFolders(mount, [tenantId, PROBE_PREFIX.replace(/\/$/, '')], what);
  const fileOf = async (key: string) => join(await probeFolder(), key.slice(PROBE_PREFIX.length));
  return {
    async write(key, body, signal) {
      // O_EXCL|O_NOFOLLOW: never overwrite, never through a link; sync: on NFS, write errors (quota, full disk) surface at fsync/close.
      const file = await open(await fileOf(key), NFS_CREATE_FLAGS, 0o600);
      try {
        await file.writeFile(body, { signal });
        await file.sync();
      } finally {
        await file.close();
      }
    },
    async read(key, signal) {
      const file = await open(await fileOf(key), NFS_READ_FLAGS);
      try {
        return await file.readFile({ signal });
      } finally {
        await file.close();
      }
    },
    async list() {
      // One entry of the probe folder, never the whole mount: the folder holds only probe files,
      // and the one just written is there, so a readable listing returns at least one entry.
      const dir = await opendir(await probeFolder(), { bufferSize: 1 });
      try {
        return (await dir.read()) !== null;
      } finally {
        await dir.close().catch(() => undefined);
      }
    },
    async remove(key) {
      // unlink removes a link itself, never its target.
      await unlink(await fileOf(key));
    },
  };
}

const NFS_ACTION: Record<StepName, string> = {
  write: 'create files in',
  read: 'read files in',
  list: 'list',
  delete: 'delete files in',
};

function classifyNfsError(error: unknown, step: StepName, root: string, checkingRoot: boolean): ProbeFailure {
  if (error instanceof ProbeFailureError) return error.failure;
  if (isEgressForbidden(error)) return failure('endpoint_forbidden', errorDetail(error), false);
  const codes = errorCodes(error);
  const code = codes.find((value) => /^E[A-Z]+$/.test(value)) ?? codes[0] ?? 'UNKNOWN';
  const probeDir = join(root, PROBE_PREFIX);
  switch (code) {
    case 'ENOENT':
      return checkingRoot
        ? failure(
            'not_writable',
            `the path ${root} does not exist on the DeepLens worker: mount the share there or correct mount_path`,
          )
        : providerFailure(`the probe file in ${probeDir} disappeared during the ${step} step (ENOENT)`);
    case 'ENOTDIR':
      return failure(
        'not_writable',
        `the path ${root} (or the probe folder ${probeDir}) is not a directory: part of the path is a regular file`,
      );
    case 'EACCES':
    case 'EPERM':
      return failure(
        'not_writable',
        `DeepLens may not ${NFS_ACTION[step]} ${checkingRoot ? root : probeDir} (permission denied, ${code}): give the worker's user read/write access to the mounted share`,
      );
    case 'EROFS':
      return failure('not_writable', `the path ${root} is on a read-only file system: mount the share read-write`);
    case 'ENOSPC':
    case 'EDQUOT':
      return failure(
        'not_writable',
        `the share mounted at ${root} is full (${code === 'EDQUOT' ? 'quota exceeded' : 'no space left'})`,
      );
    case 'ELOOP':
    case 'ENAMETOOLONG':
      return failure('not_writable', `the path ${root} cannot be used (${code})`);
    case 'ESTALE':
      return failure(
        'endpoint_unreachable',
        `the NFS mount at ${root} is stale: remount the share on the worker`,
        false,
      );
    case 'EIO':
    case 'ETIMEDOUT':
    case 'EHOSTDOWN':
    case 'EHOSTUNREACH':
      return failure('endpoint_unreachable', `the NFS server behind ${root} did not answer (${code})`);
    case 'AbortError':
    case 'ABORT_ERR':
      return failure('timeout', `the ${step} step on ${root} did not finish in time`);
    default:
      return providerFailure(`the ${step} step on ${root} failed (${code})`);
  }
}
