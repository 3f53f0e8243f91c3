import { createRequire } from 'node:module';

/**
 * The only path from an SMB server's bytes to @tryjsky/v9u-smb2's parser. The
 * library parses inside the socket's `data` handler without checking lengths,
 * so a hostile server's short or odd frame threw there, where nothing can catch
 * it, and took the whole storage-verifier down with every tenant's job. Here
 * the NetBIOS stream is re-framed with a size cap (refused before buffering),
 * each frame is checked against the response layout the library will read,
 * and the library's parser (and the callbacks it runs) is called inside a
 * try/catch: any error becomes a failure of this one connection.
 */

const require = createRequire(import.meta.url);

/** Largest frame accepted: the probe's messages are small (the library reads 64 KiB at most). */
const MAX_SMB_FRAME = 1 << 20;

const HEADER = 64;
const SMB2_MAGIC = 0xfe534d42; // "\xFESMB"
const STATUS_SUCCESS = 0;
const STATUS_MORE_PROCESSING_REQUIRED = 0xc0000016;
const STATUS_PENDING = 0x00000103;
const SMB2_FLAGS_ASYNC_COMMAND = 0x00000002;
const NETBIOS_SESSION_MESSAGE = 0x00;
const NETBIOS_KEEPALIVE = 0x85;

type Field = [name: string, length?: number | string];
/** The commands the library sends, by code, with the response layout it reads for each. */
const RESPONSES = new Map<number, Field[]>(
  (
    [
      [0x00, 'negotiate'],
      [0x01, 'session_setup'],
      [0x03, 'tree_connect'],
      [0x05, 'create'],
      [0x06, 'close'],
      [0x08, 'read'],
      [0x09, 'write'],
      [0x0e, 'query_directory'],
      [0x11, 'set_info'],
    ] as const
  ).map(([code, name]) => [
    code,
    (require(`@tryjsky/v9u-smb2/lib/structures/${name}`) as { response: Field[] }).response,
  ]),
);

/** A server's bytes that this client will not parse: always a provider_error of the probe, never retried. */
export class SmbProtocolError extends Error {
  readonly code = 'SMB_PROTOCOL_ERROR';
  constructor(reason: string) {
    super(`the server sent an invalid SMB2 message (${reason})`);
    this.name = 'SmbProtocolError';
  }
}

/**
 * Why a frame (the SMB2 message without its NetBIOS header) cannot be handed
 * to the library, or null. Checks what the library reads: a sync header, a
 * command it knows, and, when it will read the body, the fixed fields plus the
 * variable buffer it sizes from one of them.
 */
export function frameProblem(frame: Buffer): string | null {
  if (frame.length < HEADER) return `a message of ${frame.length} bytes is shorter than the 64-byte header`;
  if (frame.readUInt32BE(0) !== SMB2_MAGIC) return 'not an SMB2 message';
  const command = frame.readUInt16LE(12);
  const layout = RESPONSES.get(command);
  if (!layout) return `unexpected command 0x${command.toString(16)}`;
  const status = frame.readUInt32LE(8);
  // Error answers are read for their status only.
  if (status !== STATUS_SUCCESS && status !== STATUS_MORE_PROCESSING_REQUIRED) return null;
  const values = new Map<string, number>();
  let offset = HEADER;
  for (const [name, declared = 1] of layout) {
    const length = typeof declared === 'number' ? declared : (values.get(declared) ?? 0);
    if (offset + length > frame.length) return `the ${name} field ends past the message's ${frame.length} bytes`;
    if (typeof declared === 'number' && length <= 4) values.set(name, frame.readUIntLE(offset, length));
    offset += length;
  }
  return null;
}

/** The fields of the library's connection this module relies on. */
export interface SmbSocketOwner {
  socket: NodeJS.EventEmitter & { destroy(error?: Error): void };
}

/**
 * Puts the guard in front of the library's parser on `connection.socket`.
 * `onBroken` is called once, with the reason, when the server's bytes or the
 * socket fail; the socket is destroyed by then.
 */
export function guardSmbFrames(connection: SmbSocketOwner, onBroken: (error: Error) => void): void {
  const socket = connection.socket;
  const parsers = socket.listeners('data') as Array<(chunk: Buffer) => void>;
  if (parsers.length !== 1)
    throw new Error(`expected the SMB client to have one data listener, found ${parsers.length}`);
  const parse = parsers[0]!;
  socket.removeListener('data', parse);

  let broken = false;
  const fail = (error: Error) => {
    if (broken) return;
    broken = true;
    socket.removeListener('data', onData);
    socket.destroy();
    onBroken(error);
  };
  // The library's own error listener forwards only while one of its calls waits; this one always reports.
  socket.on('error', fail);
  socket.on('close', () =>
    fail(Object.assign(new Error('the SMB server closed the connection'), { code: 'ECONNRESET' })),
  );

  let pending: Buffer = Buffer.alloc(0);
  function onData(chunk: Buffer) {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    while (!broken && pending.length >= 4) {
      const type = pending.readUInt8(0);
      const length = pending.readUIntBE(1, 3);
      if (type !== NETBIOS_SESSION_MESSAGE && !(type === NETBIOS_KEEPALIVE && length === 0))
        return fail(new SmbProtocolError(`NetBIOS packet type 0x${type.toString(16)}`));
      if (length > MAX_SMB_FRAME)
        return fail(
          new SmbProtocolError(`a message of ${length} bytes is larger than the ${MAX_SMB_FRAME}-byte limit`),
        );
      if (pending.length < length + 4) return;
      const frame = pending.subarray(4, length + 4);
      pending = pending.subarray(length + 4);
      if (type === NETBIOS_KEEPALIVE) continue;
      const problem = frameProblem(frame);
      if (problem) return fail(new SmbProtocolError(problem));
      // MS-SMB2 3.2.5.1.5: an interim answer (async, STATUS_PENDING) precedes the real one under the
      // same MessageId; the library would take it for a failure, so it never sees it.
      if (frame.readUInt32LE(8) === STATUS_PENDING && (frame.readUInt32LE(16) & SMB2_FLAGS_ASYNC_COMMAND) !== 0)
        continue;
      try {
        parse(Buffer.concat([Buffer.from([0, length >> 16, (length >> 8) & 0xff, length & 0xff]), frame]));
      } catch (error) {
        // The library's parser, or a callback it ran, threw on this server's answer.
        return fail(
          new SmbProtocolError(
            `the client could not read the ${commandName(frame)} answer: ${(error as Error)?.name ?? 'error'}`,
          ),
        );
      }
    }
  }
  socket.on('data', onData);
}

function commandName(frame: Buffer): string {
  const names: Record<number, string> = {
    0: 'NEGOTIATE',
    1: 'SESSION_SETUP',
    3: 'TREE_CONNECT',
    5: 'CREATE',
    6: 'CLOSE',
    8: 'READ',
    9: 'WRITE',
    14: 'QUERY_DIRECTORY',
    17: 'SET_INFO',
  };
  return names[frame.readUInt16LE(12)] ?? 'unknown';
}
