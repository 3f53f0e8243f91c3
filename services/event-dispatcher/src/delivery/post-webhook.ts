import http from 'node:http';
import https from 'node:https';
import type { GuardedAgents } from '@deeplens/shared';

/**
 * One POST to a webhook receiver over node:http(s) with the guarded agents
 * (shared/src/egress/guarded-connect.ts): the receiver's name is resolved and
 * checked when the connection is made and the socket goes to the checked
 * address; IP literals are checked by the agent. Global fetch is not used:
 * its undici connector is harder to guard. Node's client follows no redirect,
 * and the answer's body is never read: only its status is kept.
 */
export function postWebhook(
  url: URL,
  agents: GuardedAgents,
  request: { headers: Record<string, string>; body: string; timeoutMs: number },
): Promise<number> {
  const client = url.protocol === 'https:' ? https : http;
  const agent = url.protocol === 'https:' ? agents.https : agents.http;
  return new Promise((resolve, reject) => {
    const outgoing = client.request(url, {
      method: 'POST',
      agent,
      headers: { ...request.headers, 'content-length': String(Buffer.byteLength(request.body)) },
    });
    const timer = setTimeout(() => {
      outgoing.destroy(Object.assign(new Error(`no answer within ${request.timeoutMs} ms`), { name: 'TimeoutError' }));
    }, request.timeoutMs);
    outgoing.on('response', (response) => {
      clearTimeout(timer);
      const status = response.statusCode ?? 0;
      // The body may be anything a receiver chose to send; it is neither read nor kept.
      response.destroy();
      resolve(status);
    });
    outgoing.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    outgoing.end(request.body);
  });
}
