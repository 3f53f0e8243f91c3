import { constants } from 'node:fs';
import { lstat, mkdir, realpath } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize, relative, sep } from 'node:path';
import { EgressForbiddenError } from './egress-policy.js';

/**
 * The one rule for NFS paths, used by the API at PUT, the verifier's probe and
 * the provisioner's backup writer. A tenant's `mount_path` is a folder on the
 * platform's own host, so it is confined:
 * - absolute, with no `..` segment, and resolving (realpath, after symlinks)
 *   inside one of DEEPLENS_NFS_ROOTS; none configured → refused outside development;
 * - never created: it must exist (a missing one is a share not mounted);
 * - everything DeepLens writes goes to `<mount>/<tenant id>/`, made by one
 *   mkdir (0700), so tenants naming the same or nested mount paths never meet;
 *   a mount path inside another tenant's folder is refused;
 * - at every use the checks run again, and no symbolic link is followed below
 *   the mount (a tenant's NFS server can plant one): folders are checked with
 *   lstat and realpath, files opened with O_NOFOLLOW.
 * A folder swapped for a link between a check and the open that follows is
 * the remaining window; O_NOFOLLOW closes it for the last path component.
 */

export interface NfsRules {
  /** DEEPLENS_NFS_ROOTS. */
  roots: readonly string[];
  /** NODE_ENV=development: with no roots configured, any absolute path is accepted. */
  development: boolean;
}

export function nfsRulesFromEnv(env: { NODE_ENV: string; DEEPLENS_NFS_ROOTS: readonly string[] }): NfsRules {
  return { roots: env.DEEPLENS_NFS_ROOTS, development: env.NODE_ENV === 'development' };
}

/** Open flags for files DeepLens writes or reads under a tenant folder: a planted link is never followed. */
export const NFS_CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
export const NFS_READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW;

const UUID_SEGMENT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const refuse = (mountPath: string, why: string) =>
  new EgressForbiddenError(`the NFS mount path ${mountPath} is refused: ${why}`);

const inside = (root: string, path: string) =>
  path === root || path.startsWith(root.endsWith(sep) ? root : `${root}${sep}`);

/** Null when the path cannot be resolved (missing, unreadable, a link loop): the caller checks its ancestor. */
async function realOrNull(path: string): Promise<string | null> {
  try {
    return await realpath(path);
  } catch (error) {
    if (typeof (error as NodeJS.ErrnoException).code === 'string') return null;
    throw error;
  }
}

/**
 * The real path `path` names: itself resolved when it exists, else its deepest
 * existing ancestor resolved plus the missing segments (which can hold no link).
 */
async function resolveReal(path: string): Promise<{ real: string; exists: boolean }> {
  const missing: string[] = [];
  for (let current = path; ; current = dirname(current)) {
    const real = await realOrNull(current);
    if (real !== null) return { real: join(real, ...missing.reverse()), exists: missing.length === 0 };
    if (dirname(current) === current) return { real: path, exists: false };
    missing.push(current.slice(dirname(current).length).replace(/^\/+/, ''));
  }
}

export interface ConfinedMount {
  /** The mount's real path (symlinks resolved). */
  real: string;
  /** False when nothing is mounted there yet; DeepLens does not create it. */
  exists: boolean;
}

/**
 * Checks `mountPath` against the rules; `tenantId` is the tenant it belongs
 * to. Throws EgressForbiddenError (endpoint_forbidden) with the platform's
 * own sentence; never creates anything.
 */
export async function confineMountPath(mountPath: string, rules: NfsRules, tenantId: string): Promise<ConfinedMount> {
  if (!isAbsolute(mountPath)) throw refuse(mountPath, 'it must be an absolute path');
  if (mountPath.split('/').includes('..')) throw refuse(mountPath, 'it must not contain ".." segments');
  if (mountPath.includes('\0')) throw refuse(mountPath, 'it contains a NUL character');
  const { real, exists } = await resolveReal(normalize(mountPath));
  if (rules.roots.length === 0) {
    if (!rules.development)
      throw refuse(mountPath, 'NFS storage is not enabled on this platform (no DEEPLENS_NFS_ROOTS configured)');
    return { real, exists };
  }
  for (const root of rules.roots) {
    const realRoot = (await realOrNull(root)) ?? root;
    if (!inside(realRoot, real)) continue;
    // Below the root, a folder named like a tenant id is (or may become) another tenant's folder.
    const foreign = relative(realRoot, real)
      .split(sep)
      .find((segment) => UUID_SEGMENT.test(segment) && segment.toLowerCase() !== tenantId.toLowerCase());
    if (foreign) throw refuse(mountPath, "it lies inside another tenant's folder");
    return { real, exists };
  }
  throw refuse(
    mountPath,
    `it does not resolve inside the folders allowed for NFS mounts (DEEPLENS_NFS_ROOTS: ${rules.roots.join(', ')})`,
  );
}

/** The check made before a config is stored (PUT, POST /v1/tenants): NFS mount paths only, other providers pass. */
export async function assertNfsConfigAllowed(
  storage: { provider: string; config: unknown },
  rules: NfsRules,
  tenantId: string,
): Promise<void> {
  if (storage.provider !== 'nfs') return;
  const mountPath = (storage.config as { mount_path?: unknown } | null)?.mount_path;
  if (typeof mountPath === 'string') await confineMountPath(mountPath, rules, tenantId);
}

/** A missing mount, with the errno the callers classify ("not mounted"). */
class NfsMountMissingError extends Error {
  readonly code = 'ENOENT';
  constructor(readonly mountPath: string) {
    super(`the path ${mountPath} does not exist`);
    this.name = 'NfsMountMissingError';
  }
}

/**
 * Creates (one mkdir, 0700) or finds each folder of `segments` under `base`,
 * refusing any that is a symbolic link or not a folder; returns the last one.
 * `base` must already be a real path.
 */
export async function ensureFolders(
  base: string,
  segments: readonly string[],
  what: string,
  { create = true } = {},
): Promise<string> {
  let current = base;
  for (const segment of segments) {
    if (!segment || segment === '.' || segment === '..' || segment.includes('/'))
      throw new EgressForbiddenError(`${what}: "${segment}" is not a folder name`);
    current = join(current, segment);
    if (create) {
      await mkdir(current, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'EEXIST') throw error;
      });
    }
    const info = await lstat(current);
    if (info.isSymbolicLink())
      throw new EgressForbiddenError(`${what}: ${current} is a symbolic link, which DeepLens does not follow`);
    if (!info.isDirectory()) throw Object.assign(new Error(`${current} is not a directory`), { code: 'ENOTDIR' });
  }
  if ((await realpath(current)) !== current)
    throw new EgressForbiddenError(`${what}: ${current} resolves elsewhere through a symbolic link`);
  return current;
}

/**
 * The tenant's folder under its mount, checked again now: the mount confined
 * and existing, `<mount>/<tenant id>` created if missing and a real folder.
 */
export async function tenantFolder(
  mountPath: string,
  rules: NfsRules,
  tenantId: string,
  options: { create?: boolean } = {},
): Promise<string> {
  const mount = await confineMountPath(mountPath, rules, tenantId);
  if (!mount.exists) throw new NfsMountMissingError(mountPath);
  return ensureFolders(mount.real, [tenantId], `the NFS mount path ${mountPath}`, options);
}
