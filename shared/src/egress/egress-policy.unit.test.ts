import { createServer, type AddressInfo } from 'node:net';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EgressPolicy, embeddedIPv4, isEgressForbidden } from './egress-policy.js';
import { guardedAgents, resolveAllowed } from './guarded-connect.js';

describe('egress policy', () => {
  const strict = new EgressPolicy();

  it.each([
    '127.0.0.1',
    '127.8.9.10',
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '::1',
    '::',
    'fe80::1',
    'fd00::1',
    'fc00::5',
    'ff02::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:169.254.169.254',
    '::ffff:0:10.0.0.1',
    '::10.0.0.1',
    '64:ff9b::a9fe:a9fe',
    '2002:a9fe:a9fe::1',
  ])('refuses %s', (address) => {
    const verdict = strict.check(address, 443);
    expect(verdict.allowed).toBe(false);
    expect(verdict.reason).toContain(address);
  });

  it.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])(
    'allows the public address %s',
    (address) => {
      expect(strict.check(address, 443).allowed).toBe(true);
    },
  );

  it('reads the IPv4 address inside IPv6 forms', () => {
    expect(embeddedIPv4('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(embeddedIPv4('::ffff:a9fe:a9fe')).toBe('169.254.169.254');
    expect(embeddedIPv4('2002:0a00:0001::')).toBe('10.0.0.1');
    expect(embeddedIPv4('2606:4700::1111')).toBeNull();
  });

  it('lets allow entries through by cidr, cidr:port, ip:port and host:port only', () => {
    const policy = new EgressPolicy({
      allow: ['10.0.0.0/8:9000', '192.168.1.5:443', '172.16.0.0/12', 'minio.internal:9000', '[fd00::/8]:9000'],
    });
    expect(policy.check('10.2.3.4', 9000).allowed).toBe(true);
    expect(policy.check('10.2.3.4', 9001).allowed).toBe(false);
    expect(policy.check('192.168.1.5', 443).allowed).toBe(true);
    expect(policy.check('192.168.1.6', 443).allowed).toBe(false);
    expect(policy.check('172.20.0.1', 1).allowed).toBe(true);
    expect(policy.check('::ffff:172.20.0.1', 1).allowed).toBe(true);
    expect(policy.check('127.0.0.1', 9000, 'minio.internal').allowed).toBe(true);
    expect(policy.check('127.0.0.1', 9000, 'other.internal').allowed).toBe(false);
    expect(policy.check('fd12::1', 9000).allowed).toBe(true);
    expect(policy.check('169.254.169.254', 80).allowed).toBe(false);
  });

  it('allows loopback only when asked (development)', () => {
    expect(new EgressPolicy({ allowLoopback: true }).check('127.0.0.1', 6379).allowed).toBe(true);
    expect(new EgressPolicy({ allowLoopback: true }).check('169.254.169.254', 80).allowed).toBe(false);
  });

  it('names a bad allow entry', () => {
    expect(EgressPolicy.validateAllowList(['10.0.0.0/33'])).toContain('10.0.0.0/33');
    expect(EgressPolicy.validateAllowList(['minio.internal'])).toContain('needs a port');
    expect(EgressPolicy.validateAllowList(['10.0.0.0/8:9000', '[::1]:80', 'a.b:1'])).toBeNull();
  });

  it('refuses literal loopback names before anything is stored', () => {
    expect(() => strict.assertLiteralUrl(new URL('http://localhost:6379'), 'the endpoint')).toThrow(/refused address/);
    expect(() => strict.assertLiteralUrl(new URL('http://[::ffff:127.0.0.1]:6379'), 'the endpoint')).toThrow(/refused/);
    expect(() => strict.assertLiteralUrl(new URL('https://s3.example.com'), 'the endpoint')).not.toThrow();
  });
});

describe('guarded connections', () => {
  let server: http.Server;
  let port: number;
  let connections = 0;
  beforeAll(async () => {
    server = http.createServer((_request, response) => response.end('secret internal answer'));
    server.on('connection', () => (connections += 1));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const get = (agent: http.Agent, host: string) =>
    new Promise<string>((resolve, reject) => {
      http
        .get({ host, port, agent, path: '/' }, (response) => {
          let body = '';
          response.on('data', (chunk) => (body += chunk)).on('end', () => resolve(body));
        })
        .on('error', reject);
    });

  it('refuses a literal and a name that resolves to loopback without connecting', async () => {
    const agents = guardedAgents(new EgressPolicy());
    const before = connections;
    for (const host of ['127.0.0.1', 'localhost']) {
      const error = await get(agents.http, host).then(
        () => null,
        (caught: unknown) => caught,
      );
      expect(isEgressForbidden(error)).toBe(true);
      expect(String((error as Error).message)).not.toContain('secret internal answer');
    }
    expect(connections).toBe(before);
    agents.destroy();
  });

  it('connects where the policy allows it', async () => {
    const agents = guardedAgents(new EgressPolicy({ allow: [`127.0.0.1:${port}`] }));
    await expect(get(agents.http, '127.0.0.1')).resolves.toBe('secret internal answer');
    await expect(get(agents.http, 'localhost')).resolves.toBe('secret internal answer');
    agents.destroy();
  });

  it('resolves and checks for hand-made sockets', async () => {
    await expect(resolveAllowed(new EgressPolicy(), 'localhost', 445)).rejects.toSatisfy(isEgressForbidden);
    await expect(resolveAllowed(new EgressPolicy({ allow: ['127.0.0.0/8'] }), '127.0.0.1', 445)).resolves.toEqual({
      address: '127.0.0.1',
      family: 4,
    });
  });

  it('a raw net server is not needed: a refused connect never opens a socket', async () => {
    const raw = createServer();
    let accepted = 0;
    raw.on('connection', (socket) => {
      accepted += 1;
      socket.destroy();
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    const rawPort = (raw.address() as AddressInfo).port;
    const agents = guardedAgents(new EgressPolicy());
    const error = await new Promise<unknown>((resolve) =>
      http.get({ host: 'localhost', port: rawPort, agent: agents.http }).on('error', resolve),
    );
    expect(isEgressForbidden(error)).toBe(true);
    expect(accepted).toBe(0);
    agents.destroy();
    await new Promise<void>((resolve) => raw.close(() => resolve()));
  });
});
