/**
 * Runs the NFS probe in a child process, for tests that need it to run as an
 * unprivileged user (root ignores directory permissions): prints the
 * ProbeResult as JSON. Usage: node --conditions=@deeplens/source --import tsx nfs-probe-child.ts <mount_path>
 */
import { probeNfs } from '../probes/nfs.probe.js';
import { testProbeOptions } from './probe-options.js';

const mountPath = process.argv[2];
if (!mountPath) throw new Error('usage: nfs-probe-child.ts <mount_path>');
const result = await probeNfs(
  { mount_path: mountPath },
  testProbeOptions({ stepTimeoutMs: 3000, totalTimeoutMs: 10_000 }),
);
process.stdout.write(JSON.stringify(result));
