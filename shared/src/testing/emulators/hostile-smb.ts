import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * An SMB "server" on loopback that answers the way an attacker's would. Each
 * request frame it receives gets the chosen answer:
 * - `short`: a 68-byte reply (NetBIOS header and a bare 64-byte SMB2 header, no
 *   body) echoing the command and message id, "successful" (NEGOTIATE) or
 *   "more processing required" (SESSION_SETUP), so the client goes on to read
 *   an NTLM challenge that is not there. Against the unguarded client this threw
 *   inside the socket's data handler and ended the process.
 * - `giant`: a NetBIOS header announcing a 16 MiB message, then more bytes.
 * - `garbage`: bytes that are not SMB2 at all.
 * - `drip`: the `short` reply, one byte per event-loop turn.
 * - `bad-ntlm`: well-formed SMB2 answers whose NTLM challenge is 4 bytes of
 *   junk: the frames pass every length check and the client's NTLM decoder
 *   throws inside the parser.
 * - `silent`: reads and never answers.
 */
export type HostileMode = 'short' | 'giant' | 'garbage' | 'drip' | 'bad-ntlm' | 'silent';

export interface HostileSmbServer {
  port: number;
  /** Connections accepted so far. */
  connections(): number;
  stop(): Promise<void>;
}

const STATUS_SUCCESS = 0;
const STATUS_MORE_PROCESSING_REQUIRED = 0xc0000016;

function shortReply(request: Buffer, body = Buffer.alloc(0)): Buffer {
  const command = request.length >= 16 ? request.readUInt16LE(12) : 0;
  const messageId = request.length >= 28 ? request.readUInt32LE(24) : 0;
  const reply = Buffer.concat([Buffer.alloc(68), body]);
  reply.writeUIntBE(64 + body.length, 1, 3);
  reply.writeUInt32BE(0xfe534d42, 4);
  reply.writeUInt16LE(64, 8);
  reply.writeUInt32LE(command === 1 ? STATUS_MORE_PROCESSING_REQUIRED : STATUS_SUCCESS, 12);
  reply.writeUInt16LE(command, 16);
  reply.writeUInt16LE(1, 18); // credits
  reply.writeUInt32LE(1, 20); // flags: server to redirector
  reply.writeUInt32LE(messageId, 28);
  return reply;
}

function answer(socket: Socket, mode: HostileMode, request: Buffer) {
  switch (mode) {
    case 'short':
      return void socket.write(shortReply(request));
    case 'giant': {
      const header = Buffer.from([0, 0xff, 0xff, 0xff]);
      return void socket.write(Buffer.concat([header, Buffer.alloc(64 * 1024, 0x41)]));
    }
    case 'garbage':
      return void socket.write(Buffer.from('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n'));
    case 'drip': {
      const bytes = shortReply(request);
      let next = 0;
      const drip = () => {
        if (next >= bytes.length || socket.destroyed) return;
        socket.write(bytes.subarray(next, ++next));
        setImmediate(drip);
      };
      return drip();
    }
    case 'bad-ntlm': {
      const command = request.length >= 16 ? request.readUInt16LE(12) : 0;
      // NEGOTIATE: the 64-byte body with an empty security buffer; SESSION_SETUP: 8 bytes and a 4-byte "challenge".
      const body = command === 1 ? Buffer.from([9, 0, 0, 0, 72, 0, 4, 0, 0x4e, 0x54, 0x4c, 0x4d]) : Buffer.alloc(64);
      return void socket.write(shortReply(request, body));
    }
    case 'silent':
      return;
  }
}

export async function startHostileSmb(mode: HostileMode): Promise<HostileSmbServer> {
  let accepted = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    accepted += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 4) {
        const length = pending.readUIntBE(1, 3);
        if (pending.length < length + 4) return;
        const request = pending.subarray(4, length + 4);
        pending = pending.subarray(length + 4);
        answer(socket, mode, request);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => accepted,
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
