import { createRequire } from 'node:module';
import { isEgressForbidden, resolveAllowed, type StorageConfigOf } from '@deeplens/shared';
import type * as smb2 from '@tryjsky/v9u-smb2';
import {
  classifyNetworkError,
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
import { guardSmbFrames, SmbProtocolError, type SmbSocketOwner } from './smb2-frames.js';
import { listOneEntry, type SmbConnection } from './smb2-single-entry.js';
import type { ProbeFailure, ProbeOptions, ProbeResult } from './types.js';

// The package is CommonJS (`module.exports = SMB2`) while its typings say `export default`.
const SMB2 = createRequire(import.meta.url)('@tryjsky/v9u-smb2') as SMB2Class;
type SMB2Class = typeof smb2.default.default;
type SMB2 = InstanceType<SMB2Class>;

/**
 * Probes an SMB share over SMB2 with NTLMv2 (@tryjsky/v9u-smb2: the
 * marsaud/v9u SMB2 client patched for Node >= 17, whose OpenSSL 3 dropped the
 * MD4/DES the unpatched forks call). `share_path` is //host/share or
 * \\host\share, optionally followed by a folder inside the share.
 */

interface ShareAddress {
  host: string;
  share: string;
  /** Folder inside the share, as path segments. */
  folder: string[];
  port: number;
  /** //host/share[/folder] as the tenant would write it. */
  display: string;
}

function parseSharePath(sharePath: string, port = 445): ShareAddress | null {
  const parts = sharePath.replace(/\\/g, '/').replace(/^\/\//, '').split('/').filter(Boolean);
  const [host, share, ...folder] = parts;
  if (!host || !share) return null;
  return { host, share, folder, port, display: `//${[host, share, ...folder].join('/')}` };
}

export function probeSmb(config: StorageConfigOf<'smb'>, options: ProbeOptions): Promise<ProbeResult> {
  const address = parseSharePath(config.share_path, config.port);
  const context: SmbContext = {
    share: address?.display ?? config.share_path,
    shareRoot: address ? `//${address.host}/${address.share}` : config.share_path,
    server: address ? `${address.host}:${address.port}` : config.share_path,
    shareName: address?.share ?? '',
    user: config.domain ? `${config.domain}\\${config.username}` : config.username,
    folder: address?.folder.join('/') ?? '',
  };
  return runProbe(
    {
      target: `the share ${context.share}`,
      secrets: [config.password],
      open: async () => {
        if (!address)
          throw new ProbeFailureError(
            failure('bucket_not_found', `"${config.share_path}" is not a share path such as //server/share`),
          );
        // The name is resolved and checked here; the client then connects to that address only.
        const { address: ip } = await resolveAllowed(options.egress, address.host, address.port);
        const client = new SMB2({
          share: `\\\\${address.host}\\${address.share}`,
          domain: config.domain ?? '',
          username: config.username,
          password: config.password,
          port: address.port,
          autoCloseTimeout: 0,
        });
        (client as unknown as { ip: string }).ip = ip;
        // Whatever the server sends, the probe fails (provider_error) rather than the process.
        let reportBroken: (error: Error) => void = () => undefined;
        const broken = new Promise<never>((_, reject) => (reportBroken = reject));
        broken.catch(() => undefined); // read by each operation's race; a close after the probe rejects it unobserved
        guardSmbFrames(client as unknown as SmbSocketOwner, (error) => reportBroken(error));
        return smbOperations(client, address.folder, broken);
      },
      classify: (error, step) => classifySmbError(error, step, context),
    },
    options,
  );
}

function smbOperations(client: SMB2, folder: string[], broken: Promise<never>): ProbeOperations {
  // A call waiting for an answer the guard refused would wait forever: it fails with the guard's reason.
  const guarded = <T>(call: Promise<T>) => Promise.race([call, broken]);
  const toPath = (key: string) => [...folder, ...key.split('/')].filter(Boolean).join('\\');
  const directory = toPath(PROBE_PREFIX);
  // Set once the session and tree connect succeeded: before that no file can exist, and the
  // client, after a failed connect, would hang on the next call instead of reconnecting.
  let connected = false;
  // The client takes no AbortSignal: the runner's deadline race bounds each call, and close() cuts the socket.
  return {
    async write(key, body) {
      // The first call connects (negotiate, NTLMv2 session setup, tree connect).
      const exists = await guarded(client.exists(directory));
      connected = true;
      if (!exists) {
        await guarded(
          client.mkdir(directory).catch((error: { code?: string }) => {
            if (error?.code !== 'STATUS_OBJECT_NAME_COLLISION') throw error;
          }),
        );
      }
      await guarded(client.writeFile(toPath(key), body));
    },
    async read(key) {
      return guarded(client.readFile(toPath(key)));
    },
    async list(key) {
      const name = key.slice(PROBE_PREFIX.length);
      const names = await guarded(listOneEntry(client as unknown as SmbConnection, directory, name));
      return names.includes(name);
    },
    async remove(key) {
      if (!connected) return;
      await guarded(client.unlink(toPath(key)));
    },
    close() {
      client.disconnect();
      (client as unknown as { socket?: { destroy(): void } }).socket?.destroy();
    },
  };
}

interface SmbContext {
  /** //host/share[/folder] */
  share: string;
  /** //host/share */
  shareRoot: string;
  /** host:port */
  server: string;
  shareName: string;
  user: string;
  folder: string;
}

const SMB_ACTION: Record<StepName, string> = {
  write: 'create files',
  read: 'read files',
  list: 'list folders',
  delete: 'delete files',
};

/** NT status codes (as the client names them) and socket errors → probe failures. */
export function classifySmbError(error: unknown, step: StepName, context: SmbContext): ProbeFailure {
  if (error instanceof ProbeFailureError) return error.failure;
  if (isEgressForbidden(error))
    return failure('endpoint_forbidden', `the share ${context.share} is refused: ${errorDetail(error)}`, false);
  if (error instanceof SmbProtocolError)
    return providerFailure(`the SMB server ${context.server} could not be used: ${error.message}`);
  const network = classifyNetworkError(error, `the SMB server ${context.server}`);
  if (network) return network;
  const code = errorCodes(error).find((value) => value.startsWith('STATUS_')) ?? 'UNKNOWN_STATUS';
  const refused = `the share ${context.share} refused user "${context.user}"`;
  switch (code) {
    case 'STATUS_LOGON_FAILURE':
    case 'STATUS_WRONG_PASSWORD':
    case 'STATUS_NO_SUCH_USER':
      return failure('invalid_credentials', `${refused}: wrong user name or password`);
    case 'STATUS_PASSWORD_EXPIRED':
    case 'STATUS_PASSWORD_MUST_CHANGE':
      return failure('invalid_credentials', `${refused}: the password has expired`);
    case 'STATUS_ACCOUNT_LOCKED_OUT':
      return failure('invalid_credentials', `${refused}: the account is locked out`);
    case 'STATUS_ACCOUNT_DISABLED':
    case 'STATUS_ACCOUNT_RESTRICTION':
    case 'STATUS_INVALID_LOGON_HOURS':
    case 'STATUS_INVALID_WORKSTATION':
      return failure('invalid_credentials', `${refused}: the account is disabled or may not log on from DeepLens`);
    case 'STATUS_BAD_NETWORK_NAME':
      return failure('bucket_not_found', `the server ${context.server} has no share named "${context.shareName}"`);
    case 'STATUS_OBJECT_PATH_NOT_FOUND':
    case 'STATUS_OBJECT_NAME_NOT_FOUND':
      if (step === 'write')
        return failure(
          'bucket_not_found',
          `the folder "${context.folder || '/'}" does not exist in the share ${context.shareRoot}`,
        );
      return providerFailure(
        `the probe file written to ${context.share} could not be found in the ${step} step (${code})`,
      );
    case 'STATUS_ACCESS_DENIED':
    case 'STATUS_NETWORK_ACCESS_DENIED':
    case 'STATUS_SHARING_VIOLATION':
      return failure(
        'access_denied',
        `user "${context.user}" may not ${SMB_ACTION[step]} in "${PROBE_PREFIX}" on the share ${context.share} (${code}): give the user change (read/write/delete) permission on the share and its folder`,
      );
    case 'STATUS_MEDIA_WRITE_PROTECTED':
      return failure('not_writable', `the share ${context.share} is read-only`);
    case 'STATUS_DISK_FULL':
    case 'STATUS_QUOTA_EXCEEDED':
      return failure('not_writable', `the share ${context.share} is full (${code})`);
    case 'STATUS_NETWORK_NAME_DELETED':
    case 'STATUS_USER_SESSION_DELETED':
    case 'STATUS_IO_TIMEOUT':
    case 'STATUS_CONNECTION_DISCONNECTED':
      return failure('endpoint_unreachable', `the SMB server ${context.server} dropped the session (${code})`);
    case 'STATUS_INSUFFICIENT_RESOURCES':
    case 'STATUS_INTERNAL_ERROR':
      return providerFailure(`the SMB server ${context.server} is failing (${code}); try again later`, 503);
    default:
      return providerFailure(`the SMB server ${context.server} answered ${code} during the ${step} step`);
  }
}
