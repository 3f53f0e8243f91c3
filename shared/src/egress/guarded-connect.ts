import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction, type Socket } from 'node:net';
import { EgressForbiddenError, type EgressPolicy } from './egress-policy.js';

/**
 * The egress policy at the moment of connecting. Names are resolved here,
 * every address they resolve to is checked, and the socket connects to one of
 * those checked addresses: there is no second resolution a rebinding DNS
 * server could answer differently. IP literals skip Node's lookup, so they are
 * checked before the socket is made.
 */

const describe = (host: string, port: number) => `the endpoint ${host}:${port}`;

/** A `lookup` for net/tls/http that only ever yields addresses the policy allows for `port`. */
function guardedLookup(policy: EgressPolicy, port: number): LookupFunction {
  return ((
    hostname: string,
    options: { all?: boolean; family?: number | string },
    callback: (...args: unknown[]) => void,
  ) => {
    const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : Number(options.family ?? 0);
    dnsLookup(
      hostname,
      { all: true, verbatim: true, family: family as 0 | 4 | 6 },
      (error, addresses: LookupAddress[]) => {
        if (error) return callback(error);
        // One refused address refuses the name: a name that mixes public and private answers is an attack, not a config.
        for (const entry of addresses) {
          const verdict = policy.check(entry.address, port, hostname);
          if (!verdict.allowed)
            return callback(
              new EgressForbiddenError(
                `${describe(hostname, port)} resolves to a refused address: ${verdict.reason}; an operator may allow it with DEEPLENS_EGRESS_ALLOW`,
              ),
            );
        }
        if (options.all) return callback(null, addresses);
        const first = addresses[0];
        if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }));
        callback(null, first.address, first.family);
      },
    );
  }) as LookupFunction;
}

/** Resolves and checks `host` for `port`; what a hand-made socket (SMB) connects to. */
export function resolveAllowed(
  policy: EgressPolicy,
  host: string,
  port: number,
): Promise<{ address: string; family: number }> {
  const bare = host.replace(/^\[|\]$/g, '');
  if (isIP(bare)) {
    policy.assert(bare, port, bare, describe(bare, port));
    return Promise.resolve({ address: bare, family: isIP(bare) });
  }
  return new Promise((resolve, reject) => {
    guardedLookup(policy, port)(bare, { all: false }, (error, address, family) =>
      error ? reject(error) : resolve({ address: address as string, family: family ?? 4 }),
    );
  });
}

type CreateConnection = (
  options: Record<string, unknown>,
  callback: (error: Error | null, socket?: Socket) => void,
) => Socket | undefined;

/**
 * Wraps an agent's createConnection: the port is known there (a plain lookup
 * is not told it), so allow entries with a port can be honoured.
 */
function guardConnections(agent: http.Agent, policy: EgressPolicy, defaultPort: number): void {
  const create = (agent as unknown as { createConnection: CreateConnection }).createConnection.bind(agent);
  (agent as unknown as { createConnection: CreateConnection }).createConnection = (options, callback) => {
    const port = Number(options.port) || defaultPort;
    const host = String(options.host ?? options.hostname ?? 'localhost').replace(/^\[|\]$/g, '');
    if (isIP(host)) {
      const verdict = policy.check(host, port, host);
      if (!verdict.allowed) {
        // Asynchronously, as a failed connection would: the request fails with this error, no socket is made.
        const error = new EgressForbiddenError(
          `${describe(host, port)} is refused: ${verdict.reason}; an operator may allow it with DEEPLENS_EGRESS_ALLOW`,
        );
        process.nextTick(() => callback(error));
        return undefined;
      }
    }
    return create({ ...options, lookup: guardedLookup(policy, port) }, callback);
  };
}

export interface GuardedAgents {
  http: http.Agent;
  https: https.Agent;
  /** Closes idle sockets; the agents refuse nothing afterwards, they only hold no sockets. */
  destroy(): void;
}

/**
 * An http and an https agent whose every connection passes the policy. Give
 * them to each SDK (S3, MinIO, Azure, Google) and HTTP client that talks to a
 * tenant's endpoint; none of them follows a redirect on its own behalf here.
 */
export function guardedAgents(policy: EgressPolicy, options: http.AgentOptions = {}): GuardedAgents {
  const httpAgent = new http.Agent({ keepAlive: true, ...options });
  const httpsAgent = new https.Agent({ keepAlive: true, ...options });
  guardConnections(httpAgent, policy, 80);
  guardConnections(httpsAgent, policy, 443);
  return {
    http: httpAgent,
    https: httpsAgent,
    destroy() {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}
