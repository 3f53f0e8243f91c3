import { createServer, type IncomingMessage } from 'node:http';

/**
 * A hostile or broken endpoint: it answers every request with an error whose
 * message echoes the request (method, URL, Authorization header, body) plus
 * the strings it is told to reflect — in S3/Azure XML for storage calls and in
 * OAuth JSON at /token. It proves that whatever a server puts in an error,
 * the probe's message never carries a secret.
 */
export async function startEchoServer(reflect: () => string[]): Promise<{ endpoint: string; stop(): Promise<void> }> {
  const server = createServer((req, res) => {
    void readBody(req).then((body) => {
      const echo = [...reflect(), req.method, req.url, req.headers.authorization ?? '', body].join(' | ');
      if (req.url?.startsWith('/token')) {
        const json = JSON.stringify({ error: 'echo_error', error_description: echo });
        res.writeHead(400, { 'content-type': 'application/json' });
        return res.end(json);
      }
      if (req.url?.includes('/storage/v1/')) {
        const json = JSON.stringify({
          error: { code: 400, message: echo, errors: [{ message: echo, reason: 'echo' }] },
        });
        res.writeHead(400, { 'content-type': 'application/json' });
        return res.end(json);
      }
      const escaped = echo.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
      const xml = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>EchoError</Code><Message>${escaped}</Message></Error>`;
      res.writeHead(400, { 'content-type': 'application/xml', 'x-ms-error-code': 'EchoError' });
      res.end(req.method === 'HEAD' ? undefined : xml);
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

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').slice(0, 4000);
}
