import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A storage "endpoint" on loopback that breaks HTTP the ways a hostile
 * server can, after reading each request's head:
 * - `garbage`: bytes that are not HTTP, then the connection closed;
 * - `truncated`: a 200 promising 100000 bytes of XML, 20 sent, then closed;
 * - `bad-chunked`: a chunked 200 whose chunk size is not a number;
 * - `reset`: the connection destroyed at once.
 */
export type BrokenHttpMode = 'garbage' | 'truncated' | 'bad-chunked' | 'reset';

const ANSWERS: Record<Exclude<BrokenHttpMode, 'reset'>, string> = {
  garbage: '\u0000\u0001SMB?? not http at all\r\n\r\n',
  truncated: 'HTTP/1.1 200 OK\r\ncontent-type: application/xml\r\ncontent-length: 100000\r\n\r\n<?xml version="1.0"?>',
  'bad-chunked':
    'HTTP/1.1 200 OK\r\ncontent-type: application/xml\r\ntransfer-encoding: chunked\r\n\r\nzz-not-hex\r\nREMOTE-SECRET-BODY\r\n',
};

export async function startBrokenHttp(
  mode: BrokenHttpMode,
): Promise<{ endpoint: string; port: number; stop(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let head = '';
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      head = '';
      if (mode === 'reset') return void socket.destroy();
      socket.end(ANSWERS[mode]);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
