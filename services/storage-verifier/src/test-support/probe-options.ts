import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { EgressPolicy } from '@deeplens/shared';
import type { ProbeOptions } from '../probes/types.js';

/**
 * Probe options for tests that call a probe directly: the emulators listen on
 * loopback, so loopback is allowed (as DEEPLENS_EGRESS_ALLOW would allow an
 * operator's on-premises endpoint); NFS folders live under the temp folder.
 * Tests of the egress policy itself pass a stricter `egress`. Each call is a
 * tenant of its own (`tenantId`), whose NFS folder is `<mount_path>/<tenantId>`.
 */
export function testProbeOptions(overrides: Partial<ProbeOptions> = {}): ProbeOptions {
  return {
    stepTimeoutMs: 3000,
    totalTimeoutMs: 10_000,
    egress: new EgressPolicy({ allow: ['127.0.0.0/8', '::1'] }),
    nfsRoots: [tmpdir()],
    tenantId: randomUUID(),
    ...overrides,
  };
}
