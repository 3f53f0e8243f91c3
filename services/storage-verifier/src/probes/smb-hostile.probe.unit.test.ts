import { EgressPolicy } from '@deeplens/shared';
import { type HostileMode, type HostileSmbServer, startHostileSmb } from '@deeplens/shared/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { expectFailure } from '../test-support/assertions.js';
import { testProbeOptions } from '../test-support/probe-options.js';
import { frameProblem, SmbProtocolError } from './smb2-frames.js';
import { parseNames } from './smb2-single-entry.js';
import { probeStorage } from './index.js';

/**
 * A tenant's SMB server is the attacker here: whatever it sends, the probe of
 * that config fails with provider_error and the process goes on (an exception
 * escaping a socket handler would fail this whole test file). The process-level
 * proof, with the verifier running as a process, is in test/hostile-smb.e2e.test.ts.
 */

const options = testProbeOptions({ stepTimeoutMs: 2000, totalTimeoutMs: 6000 });
const config = (port: number, host = '127.0.0.1') => ({
  share_path: `//${host}/data`,
  username: 'u',
  password: 'hostile-test-password',
  port,
});
let server: HostileSmbServer | undefined;

afterEach(async () => {
  await server?.stop();
  server = undefined;
});

describe('SMB probe against a hostile server', () => {
  it.each<[HostileMode, RegExp]>([
    ['short', /could not read the SESSION_SETUP answer|SESSION_SETUP|ends past/],
    ['giant', /larger than the 1048576-byte limit/],
    ['garbage', /NetBIOS packet type|not an SMB2 message|larger than/],
    ['drip', /SESSION_SETUP|ends past/],
    ['bad-ntlm', /could not read the SESSION_SETUP answer: RangeError/],
  ])('a %s answer fails the probe with provider_error, not the process', async (mode, reason) => {
    server = await startHostileSmb(mode);
    const result = await probeStorage('smb', config(server.port), options);
    const message = expectFailure(result, 'provider_error', false);
    expect(message).toMatch(
      /^the SMB server 127\.0\.0\.1:\d+ could not be used: the server sent an invalid SMB2 message/,
    );
    expect(message).toMatch(reason);
    expect(server.connections()).toBe(1);
  });

  it('a server that never answers fails the step with timeout', async () => {
    server = await startHostileSmb('silent');
    const result = await probeStorage(
      'smb',
      config(server.port),
      testProbeOptions({ stepTimeoutMs: 300, totalTimeoutMs: 2000 }),
    );
    expectFailure(result, 'timeout', true);
  });

  it('refuses a share on a refused address before connecting: endpoint_forbidden, not retried', async () => {
    server = await startHostileSmb('short');
    const strict = testProbeOptions({ egress: new EgressPolicy() });
    for (const host of ['127.0.0.1', 'localhost', '[::ffff:127.0.0.1]']) {
      const result = await probeStorage('smb', config(server.port, host), strict);
      expect(expectFailure(result, 'endpoint_forbidden', false)).toContain('is not reachable for tenant endpoints');
    }
    expect(server.connections()).toBe(0);
  });
});

describe('SMB2 frame checks', () => {
  const header = (command: number, status = 0, extra = 0) => {
    const frame = Buffer.alloc(64 + extra);
    frame.writeUInt32BE(0xfe534d42, 0);
    frame.writeUInt32LE(status, 8);
    frame.writeUInt16LE(command, 12);
    return frame;
  };

  it('refuses short, foreign and truncated messages and lets error answers through', () => {
    expect(frameProblem(Buffer.alloc(10))).toMatch(/shorter than the 64-byte header/);
    expect(frameProblem(Buffer.alloc(64))).toBe('not an SMB2 message');
    expect(frameProblem(header(0x02))).toMatch(/unexpected command/);
    expect(frameProblem(header(0x00))).toMatch(/ends past/);
    const read = header(0x08, 0, 16);
    read.writeUInt32LE(1000, 64 + 4); // DataLength beyond the message
    expect(frameProblem(read)).toMatch(/Buffer field ends past/);
    expect(frameProblem(header(0x05, 0xc0000034))).toBeNull(); // STATUS_OBJECT_NAME_NOT_FOUND: status only
  });

  it('refuses directory entries whose lengths or offsets leave the listing', () => {
    const entry = Buffer.alloc(104 + 4);
    entry.writeUInt32LE(4000, 60);
    expect(() => parseNames(entry)).toThrow(SmbProtocolError);
    const looping = Buffer.alloc(300);
    looping.writeUInt32LE(8, 0);
    expect(() => parseNames(looping)).toThrow(/points inside itself/);
  });
});
