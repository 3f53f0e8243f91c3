import { createServer as createHttpServer } from 'node:http';
import { createServer, type Socket } from 'node:net';

/**
 * A loopback listener standing in for a metadata service or an internal host:
 * it counts the connections it accepts (and keeps the bytes sent to it), so a
 * test can prove a refusal happened before any connection was made.
 */
export async function startCountingListener(): Promise<{
  port: number;
  connections(): number;
  received(): string;
  stop(): Promise<void>;
}> {
  let count = 0;
  const chunks: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    count++;
    sockets.add(socket);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    connections: () => count,
    received: () => Buffer.concat(chunks).toString('utf8'),
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** An HTTP server (allowed by the policy) that answers every request with a redirect to `location`. */
export async function startRedirectingServer(
  location: string,
  status = 307,
): Promise<{ endpoint: string; stop(): Promise<void> }> {
  const server = createHttpServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(status, { location: `${location}${req.url ?? '/'}`, 'content-length': '0' });
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    endpoint: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
