import { BlockList, isIP } from 'node:net';
import { AppError } from '../errors.js';

/**
 * Which addresses a connection made on a tenant's behalf may reach. Every
 * outbound path (storage probes and backup writers, token endpoints, SMB,
 * webhook deliveries) asks this one policy, after resolving the name and
 * before connecting, and then connects to the address it checked.
 *
 * Refused unless allowed: loopback, link-local, private, CGNAT, unspecified,
 * multicast, reserved and documentation ranges, and the IPv4-mapped,
 * IPv4-compatible, NAT64 and 6to4 IPv6 forms of those. `DEEPLENS_EGRESS_ALLOW`
 * (comma separated `host:port`, `ip:port`, `cidr` or `cidr:port`; IPv6 in
 * brackets when a port follows) lets an operator's own on-premises endpoints
 * through; development also allows loopback.
 */

const REFUSED_V4: Array<[string, number]> = [
  ['0.0.0.0', 8], // "this network", unspecified
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // CGNAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata
  ['172.16.0.0', 12],
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.88.99.0', 24], // 6to4 relay anycast
  ['192.168.0.0', 16],
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
];

const REFUSED_V6: Array<[string, number]> = [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['100::', 64], // discard
  ['2001:db8::', 32], // documentation
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
];

const LOOPBACK: Array<[string, number, 'ipv4' | 'ipv6']> = [
  ['127.0.0.0', 8, 'ipv4'],
  ['::1', 128, 'ipv6'],
];

const refused = new BlockList();
for (const [network, prefix] of REFUSED_V4) refused.addSubnet(network, prefix, 'ipv4');
for (const [network, prefix] of REFUSED_V6) refused.addSubnet(network, prefix, 'ipv6');

/** Thrown (and put on sockets) when a tenant's endpoint aims at a refused address; never retried. */
export class EgressForbiddenError extends AppError {
  constructor(message: string) {
    super('endpoint_forbidden', message, { httpStatus: 400, retryable: false });
    this.name = 'EgressForbiddenError';
  }
}

export function isEgressForbidden(error: unknown): boolean {
  for (
    let e = error as { code?: unknown; cause?: unknown } | undefined, depth = 0;
    e && depth < 6;
    e = e.cause as typeof e, depth++
  ) {
    if (e instanceof EgressForbiddenError || e.code === 'endpoint_forbidden') return true;
  }
  return false;
}

interface AllowEntry {
  /** A host name (lower case) or a subnet; a host name entry matches the name the caller connected to. */
  host?: string;
  subnet?: BlockList;
  port?: number;
  text: string;
}

/**
 * The IPv4 address an IPv6 address stands for, where it embeds one:
 * IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d), IPv4-translated
 * (::ffff:0:a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002:AABB:CCDD::/48).
 */
export function embeddedIPv4(address: string): string | null {
  if (isIP(address) !== 6) return null;
  const words = expandIPv6(address);
  if (!words) return null;
  const v4 = (high: number, low: number) => `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
  const zero = (from: number, to: number) => words.slice(from, to).every((word) => word === 0);
  if (zero(0, 5) && words[5] === 0xffff) return v4(words[6]!, words[7]!);
  if (zero(0, 4) && words[4] === 0xffff && words[5] === 0) return v4(words[6]!, words[7]!);
  if (zero(0, 6) && (words[6] !== 0 || words[7]! > 1)) return v4(words[6]!, words[7]!);
  if (words[0] === 0x64 && words[1] === 0xff9b && zero(2, 6)) return v4(words[6]!, words[7]!);
  if (words[0] === 0x2002) return v4(words[1]!, words[2]!);
  return null;
}

function expandIPv6(address: string): number[] | null {
  let text = address.split('%')[0]!.toLowerCase();
  // A dotted tail (::ffff:1.2.3.4) becomes two hex words.
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const parse = (part: string) => (part ? part.split(':').map((word) => parseInt(word, 16)) : []);
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  const missing = 8 - left.length - right.length;
  if (missing < 0 || (tail === undefined && missing !== 0)) return null;
  const words = [...left, ...Array<number>(missing).fill(0), ...right];
  return words.every((word) => Number.isInteger(word) && word >= 0 && word <= 0xffff) ? words : null;
}

function parseAllowEntry(text: string): AllowEntry {
  const fail = () => new Error(`"${text}" is not host:port, ip:port, cidr or cidr:port`);
  let hostPart = text;
  let port: number | undefined;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed) {
    hostPart = bracketed[1]!;
    port = bracketed[2] === undefined ? undefined : Number(bracketed[2]);
  } else if (isIP(text) !== 6 && !(text.includes('/') && isIP(text.split('/')[0]!) === 6)) {
    const colon = text.lastIndexOf(':');
    if (colon > 0) {
      hostPart = text.slice(0, colon);
      port = Number(text.slice(colon + 1));
      if (!/^\d+$/.test(text.slice(colon + 1))) throw fail();
    }
  }
  if (port !== undefined && !(Number.isInteger(port) && port >= 1 && port <= 65535)) throw fail();
  const [network, prefixText] = hostPart.split('/') as [string, string | undefined];
  const family = isIP(network);
  if (family) {
    const max = family === 4 ? 32 : 128;
    const prefix = prefixText === undefined ? max : Number(prefixText);
    if (!/^\d*$/.test(prefixText ?? '') || !(prefix >= 0 && prefix <= max)) throw fail();
    const subnet = new BlockList();
    subnet.addSubnet(network, prefix, family === 4 ? 'ipv4' : 'ipv6');
    return { subnet, ...(port !== undefined ? { port } : {}), text };
  }
  if (prefixText !== undefined || !/^[a-z0-9]([a-z0-9.-]{0,252})$/i.test(hostPart)) throw fail();
  // A host name alone would allow whatever it resolves to on any port: a port is required.
  if (port === undefined) throw new Error(`"${text}": a host name entry needs a port (host:port)`);
  return { host: hostPart.toLowerCase(), port, text };
}

export interface EgressPolicyOptions {
  /** DEEPLENS_EGRESS_ALLOW's entries. */
  allow?: readonly string[];
  /** NODE_ENV=development: loopback is allowed too, so a laptop's MinIO works. */
  allowLoopback?: boolean;
}

export interface EgressVerdict {
  allowed: boolean;
  /** Why not, in the platform's words: names the address class, never anything the remote said. */
  reason?: string;
}

export class EgressPolicy {
  private readonly entries: AllowEntry[];

  constructor(readonly options: EgressPolicyOptions = {}) {
    this.entries = (options.allow ?? []).map(parseAllowEntry);
    if (options.allowLoopback) {
      const subnet = new BlockList();
      for (const [network, prefix, type] of LOOPBACK) subnet.addSubnet(network, prefix, type);
      this.entries.push({ subnet, text: 'loopback (development)' });
    }
  }

  /** Checks that every entry of DEEPLENS_EGRESS_ALLOW parses; the message names the bad one. */
  static validateAllowList(entries: readonly string[]): string | null {
    try {
      entries.forEach(parseAllowEntry);
      return null;
    } catch (error) {
      return (error as Error).message;
    }
  }

  /**
   * May a connection to `address` (an IP literal) on `port` be made, when
   * the caller asked for `host`? A refused class is let through only by an
   * allow entry; public addresses always pass.
   */
  check(address: string, port: number, host?: string): EgressVerdict {
    const family = isIP(address);
    if (!family) return { allowed: false, reason: `"${address}" is not an IP address` };
    const v4 = family === 6 ? embeddedIPv4(address) : null;
    const candidates: Array<[string, 'ipv4' | 'ipv6']> = [[address.split('%')[0]!, family === 4 ? 'ipv4' : 'ipv6']];
    if (v4) candidates.push([v4, 'ipv4']);
    const refusedAs = candidates.find(([ip, type]) => refused.check(ip, type));
    if (!refusedAs) return { allowed: true };
    const lowerHost = host?.toLowerCase().replace(/^\[|\]$/g, '');
    const allowedBy = this.entries.find(
      (entry) =>
        (entry.port === undefined || entry.port === port) &&
        (entry.host !== undefined
          ? entry.host === lowerHost
          : candidates.some(([ip, type]) => entry.subnet!.check(ip, type))),
    );
    if (allowedBy) return { allowed: true };
    return {
      allowed: false,
      reason: `${describeAddress(refusedAs[0], refusedAs[1])} ${address} (port ${port}) is not reachable for tenant endpoints`,
    };
  }

  /**
   * Does an allow entry name `host` (a name or an IP literal) on `port`
   * itself? Public addresses pass `check` without one; rules that only an
   * operator's listing relaxes (plain-http webhooks) ask this.
   */
  listed(host: string, port: number): boolean {
    const bare = host.toLowerCase().replace(/^\[|\]$/g, '');
    const family = isIP(bare);
    return this.entries.some(
      (entry) =>
        (entry.port === undefined || entry.port === port) &&
        (entry.host !== undefined
          ? entry.host === bare
          : family !== 0 && entry.subnet!.check(bare, family === 4 ? 'ipv4' : 'ipv6')),
    );
  }

  /** As `check`, throwing EgressForbiddenError with `what` (e.g. `the endpoint "https://x:9000"`) in the message. */
  assert(address: string, port: number, host: string | undefined, what: string): void {
    const verdict = this.check(address, port, host);
    if (!verdict.allowed)
      throw new EgressForbiddenError(
        `${what} resolves to a refused address: ${verdict.reason}; an operator may allow it with DEEPLENS_EGRESS_ALLOW`,
      );
  }

  /**
   * The check an API can make before anything is stored: a host that is an IP
   * literal (or `localhost`) in a refused range is refused now; a name is
   * checked again, resolved, when each connection is made.
   */
  assertLiteralHost(host: string, port: number, what: string): void {
    const bare = host.replace(/^\[|\]$/g, '');
    if (isIP(bare)) {
      this.assert(bare, port, bare, what);
      return;
    }
    if (/^localhost\.?$/i.test(bare) || /\.localhost\.?$/i.test(bare)) this.assert('127.0.0.1', port, bare, what);
  }

  /** The same for a URL: scheme http(s), its host and (default) port. */
  assertLiteralUrl(url: URL, what: string): void {
    this.assertLiteralHost(url.hostname, urlPort(url), what);
  }
}

export function urlPort(url: URL): number {
  if (url.port) return Number(url.port);
  return url.protocol === 'http:' ? 80 : 443;
}

function describeAddress(ip: string, type: 'ipv4' | 'ipv6'): string {
  const inRange = (network: string, prefix: number, kind: 'ipv4' | 'ipv6') => {
    const list = new BlockList();
    list.addSubnet(network, prefix, kind);
    return kind === type && list.check(ip, type);
  };
  if (inRange('127.0.0.0', 8, 'ipv4') || inRange('::1', 128, 'ipv6')) return 'the loopback address';
  if (inRange('169.254.0.0', 16, 'ipv4') || inRange('fe80::', 10, 'ipv6')) return 'the link-local address';
  if (
    inRange('10.0.0.0', 8, 'ipv4') ||
    inRange('172.16.0.0', 12, 'ipv4') ||
    inRange('192.168.0.0', 16, 'ipv4') ||
    inRange('fc00::', 7, 'ipv6')
  )
    return 'the private address';
  if (inRange('100.64.0.0', 10, 'ipv4')) return 'the shared (CGNAT) address';
  if (inRange('224.0.0.0', 4, 'ipv4') || inRange('ff00::', 8, 'ipv6')) return 'the multicast address';
  if (inRange('0.0.0.0', 8, 'ipv4') || inRange('::', 128, 'ipv6')) return 'the unspecified address';
  return 'the reserved address';
}

/** The policy of this process: DEEPLENS_EGRESS_ALLOW, plus loopback in development. */
export function egressPolicyFromEnv(env: { NODE_ENV: string; DEEPLENS_EGRESS_ALLOW: readonly string[] }): EgressPolicy {
  return new EgressPolicy({ allow: env.DEEPLENS_EGRESS_ALLOW, allowLoopback: env.NODE_ENV === 'development' });
}
