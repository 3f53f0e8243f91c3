import { createRequire } from 'node:module';
import { SmbProtocolError } from './smb2-frames.js';

/**
 * A bounded directory listing for @tryjsky/v9u-smb2: its `readdir` loops
 * QUERY_DIRECTORY with the pattern "*" until STATUS_NO_MORE_FILES, i.e. it
 * reads the whole directory. The probe must list at most one entry, so this
 * sends one QUERY_DIRECTORY (MS-SMB2 2.2.33) with SMB2_RESTART_SCANS |
 * SMB2_RETURN_SINGLE_ENTRY and the probe file's own name as the search
 * pattern, over the client's authenticated session, using the library's own
 * message encoder (lib/ paths of the pinned 1.1.x; the package has no
 * "exports" map, so they are reachable).
 */

const require = createRequire(import.meta.url);

interface SmbMessage {
  getBuffer(connection: SmbConnection): Buffer;
  getHeaders(): Record<string, unknown> & { MessageId: number; Status?: Buffer };
  getResponse(): Record<string, Buffer>;
}
type SmbMessageClass = new (options: {
  headers: Record<string, unknown>;
  request: Record<string, unknown>;
}) => SmbMessage;
type SmbFile = { FileId: Buffer };
interface SmbForge {
  request(
    name: string,
    params: unknown,
    connection: SmbConnection,
    cb: (error: (Error & { code?: string }) | null, result?: unknown) => void,
  ): void;
}
interface SmbErrors {
  getStatus(status: number): { code: string; message: string };
}

/** The fields of the library's SMB2 instance this helper relies on. */
export interface SmbConnection {
  socket: NodeJS.EventEmitter & { write(data: Buffer): boolean };
  responsesCB: Record<string, (response: SmbMessage) => void>;
  SessionId: unknown;
  TreeId: unknown;
  ProcessId: unknown;
}

const SMB2Message = require('@tryjsky/v9u-smb2/lib/tools/smb2-message') as SmbMessageClass;
const SMB2Forge = require('@tryjsky/v9u-smb2/lib/tools/smb2-forge') as SmbForge;
const MsErref = require('@tryjsky/v9u-smb2/lib/tools/ms_erref') as SmbErrors;

const SMB2_RESTART_SCANS = 0x01;
const SMB2_RETURN_SINGLE_ENTRY = 0x02;
const FILE_ID_BOTH_DIRECTORY_INFORMATION = 0x25;
const STATUS_SUCCESS = 0;
const STATUS_NO_MORE_FILES = 0x80000006;
const STATUS_NO_SUCH_FILE = 0xc000000f;

function forge<T>(name: string, params: unknown, connection: SmbConnection): Promise<T> {
  return new Promise((resolve, reject) =>
    SMB2Forge.request(name, params, connection, (error, result) => (error ? reject(error) : resolve(result as T))),
  );
}

function statusError(status: number): Error & { code: string } {
  const known = MsErref.getStatus(status);
  return Object.assign(new Error(`${known.code} (0x${status.toString(16)})`), { code: known.code });
}

/** Sends one QUERY_DIRECTORY and resolves the names it returned (at most one). */
function querySingle(connection: SmbConnection, directory: SmbFile, pattern: string): Promise<string[]> {
  const message = new SMB2Message({
    headers: {
      Command: 'QUERY_DIRECTORY',
      SessionId: connection.SessionId,
      TreeId: connection.TreeId,
      ProcessId: connection.ProcessId,
    },
    request: {
      FileInformationClass: FILE_ID_BOTH_DIRECTORY_INFORMATION,
      Flags: SMB2_RESTART_SCANS | SMB2_RETURN_SINGLE_ENTRY,
      FileId: directory.FileId,
      OutputBufferLength: 4096,
      Buffer: Buffer.from(pattern, 'ucs2'),
    },
  });
  const payload = message.getBuffer(connection); // assigns the MessageId
  const frame = Buffer.alloc(payload.length + 4); // NetBIOS session message header
  frame.writeUInt8((payload.length >> 16) & 0xff, 1);
  frame.writeUInt16BE(payload.length & 0xffff, 2);
  payload.copy(frame, 4);
  const id = Buffer.alloc(4);
  id.writeUInt32LE(message.getHeaders().MessageId, 0);
  return new Promise((resolve, reject) => {
    connection.responsesCB[id.toString('hex')] = (response) => {
      const status = response.getHeaders().Status?.readUInt32LE(0) ?? STATUS_SUCCESS;
      if (status === STATUS_NO_MORE_FILES || status === STATUS_NO_SUCH_FILE) return resolve([]);
      if (status !== STATUS_SUCCESS) return reject(statusError(status));
      try {
        resolve(parseNames(response.getResponse().Buffer ?? Buffer.alloc(0)));
      } catch (error) {
        reject(error);
      }
    };
    connection.socket.write(frame);
  });
}

/**
 * FILE_ID_BOTH_DIR_INFORMATION entries: FileNameLength at 60, FileName at 104.
 * Every length and offset comes from the server, so each is checked against
 * the buffer; a server's bad entry ends the listing as an SmbProtocolError.
 */
export function parseNames(buffer: Buffer): string[] {
  const names: string[] = [];
  let offset = 0;
  while (offset + 104 <= buffer.length) {
    const next = buffer.readUInt32LE(offset);
    const nameLength = buffer.readUInt32LE(offset + 60);
    if (offset + 104 + nameLength > buffer.length)
      throw new SmbProtocolError("a directory entry's name ends past the listing");
    names.push(buffer.subarray(offset + 104, offset + 104 + nameLength).toString('ucs2'));
    if (next === 0) break;
    // Entries only go forward, so a hostile offset cannot loop.
    if (next < 104) throw new SmbProtocolError('a directory entry points inside itself');
    offset += next;
  }
  return names;
}

/**
 * Lists at most one entry of `directory` (share-relative, backslashes) whose
 * name matches `name`; the client must already be connected.
 */
export async function listOneEntry(connection: SmbConnection, directory: string, name: string): Promise<string[]> {
  const handle = await forge<SmbFile>('open', { path: directory }, connection);
  try {
    return await querySingle(connection, handle, name);
  } finally {
    await forge('close', handle, connection).catch(() => undefined);
  }
}
