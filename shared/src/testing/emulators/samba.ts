import { execFile, spawn } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from '../wait.js';
import { freePort, tcpAccepts } from '../ports.js';
import { makeTempDir, startProcess, which } from '../processes.js';

/**
 * A private Samba smbd (Debian's `samba` package) on 127.0.0.1:<free port>,
 * with everything it writes in a temp dir: its own smb.conf, private, lock,
 * state, cache, pid and ncalrpc dirs, log, and a tdbsam passdb holding one
 * user. It never reads or changes the system's samba configuration.
 *
 * Shares: [data] read-write, [readonly] read-only, both for SAMBA_USER. Samba
 * maps the SMB user to a Unix user of the same name, which is created with
 * useradd when missing (the tests run as root).
 */

export const SAMBA_USER = 'deeplensprobe';

export interface SambaServer {
  port: number;
  password: string;
  /** The folders behind the shares, to check what the probe left. */
  dataDir: string;
  readonlyDir: string;
  stop(): Promise<void>;
}

const run = promisify(execFile);

export async function startSamba(): Promise<SambaServer> {
  const smbd = await which('smbd');
  const smbpasswd = await which('smbpasswd');
  if (!smbd || !smbpasswd) {
    throw new Error(
      'smbd/smbpasswd (Debian package "samba") are not installed: run .ci/install-test-deps.sh, which installs samba',
    );
  }
  await ensureUnixUser(SAMBA_USER);

  const tmp = await makeTempDir('samba');
  await chmod(tmp.path, 0o755); // smbd serves the shares as SAMBA_USER, who must traverse this dir
  const dirs = Object.fromEntries(
    ['private', 'lock', 'state', 'cache', 'pid', 'ncalrpc', 'binddns', 'data', 'readonly'].map((name) => [
      name,
      join(tmp.path, name),
    ]),
  ) as Record<string, string>;
  for (const dir of Object.values(dirs)) await mkdir(dir, { recursive: true });
  await chmod(dirs.data!, 0o777);
  await mkdir(join(dirs.data!, 'sub'));
  await chmod(join(dirs.data!, 'sub'), 0o777);

  const port = await freePort();
  const password = `Pw-${Math.random().toString(36).slice(2)}-${Date.now().toString(36)}`;
  const conf = join(tmp.path, 'smb.conf');
  await writeFile(
    conf,
    `[global]
  workgroup = WORKGROUP
  server role = standalone server
  smb ports = ${port}
  bind interfaces only = yes
  interfaces = lo
  disable netbios = yes
  server min protocol = SMB2_02
  map to guest = never
  passdb backend = tdbsam:${join(tmp.path, 'passdb.tdb')}
  private dir = ${dirs.private}
  lock directory = ${dirs.lock}
  state directory = ${dirs.state}
  cache directory = ${dirs.cache}
  pid directory = ${dirs.pid}
  ncalrpc dir = ${dirs.ncalrpc}
  binddns dir = ${dirs.binddns}
  log file = ${join(tmp.path, 'smbd.log')}
  log level = 1
  load printers = no
  printing = bsd
  printcap name = /dev/null
  disable spoolss = yes
  usershare max shares = 0

[data]
  path = ${dirs.data}
  read only = no
  valid users = ${SAMBA_USER}

[readonly]
  path = ${dirs.readonly}
  read only = yes
  valid users = ${SAMBA_USER}
`,
  );

  await new Promise<void>((resolve, reject) => {
    const child = spawn(smbpasswd, ['-c', conf, '-a', '-s', SAMBA_USER], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`smbpasswd -a failed (${code}): ${stderr}`)),
    );
    child.stdin.end(`${password}\n${password}\n`);
  });

  const server = startProcess('smbd', smbd, ['--foreground', '--no-process-group', '--debug-stdout', '-s', conf]);
  try {
    await waitFor(async () => ((await tcpAccepts(port)) ? true : undefined), {
      what: `smbd on 127.0.0.1:${port}`,
      timeoutMs: 30_000,
      intervalMs: 100,
      alive: server.exited,
    });
  } catch (error) {
    await server.stop();
    await tmp.remove();
    throw error;
  }
  return {
    port,
    password,
    dataDir: dirs.data!,
    readonlyDir: dirs.readonly!,
    async stop() {
      await server.stop();
      await tmp.remove();
    },
  };
}

async function ensureUnixUser(name: string): Promise<void> {
  try {
    await run('id', ['-u', name]);
  } catch {
    const nologin = (await which('nologin')) ?? '/bin/false';
    await run('useradd', ['--no-create-home', '--shell', nologin, name]).catch(async (error: unknown) => {
      // Another test process may have created it meanwhile.
      await run('id', ['-u', name]).catch(() => {
        throw error;
      });
    });
  }
}
