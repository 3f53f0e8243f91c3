import { createServer, Socket } from 'node:net';
import { waitFor } from './wait.js';

/** A TCP port on 127.0.0.1 nothing listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Resolves true once something accepts TCP connections on host:port. */
export function tcpAccepts(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(port, host, () => done(true));
  });
}

/** Waits until 127.0.0.1:port accepts connections (`open`) or refuses them. */
export async function untilPort(port: number, open: boolean, timeoutMs = 20_000): Promise<void> {
  await waitFor(async () => ((await tcpAccepts(port)) === open ? true : undefined), {
    timeoutMs,
    what: `port ${port} to ${open ? 'open' : 'close'}`,
  });
}
