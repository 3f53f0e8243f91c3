import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { waitFor } from '../wait.js';
import { freePort } from '../ports.js';
import { startProcess, which } from '../processes.js';

/**
 * A moto_server (the Python AWS mock, on PATH) on 127.0.0.1 with IAM
 * authentication ON from the first request (INITIAL_NO_AUTH_ACTION_COUNT=0):
 * it checks SigV4 signatures, rejects unknown access keys and wrong secrets,
 * and enforces the IAM policies of the user that signed the request.
 *
 * Users are made through moto's own IAM API: the fixture opens a window of
 * exactly three unauthenticated actions (moto's /moto-api/reset-auth), spends
 * them on CreateUser, CreateAccessKey and PutUserPolicy, and auth is back on.
 *
 * moto runs through moto_server_raw_query.py (beside this file): moto_server
 * itself, except that its SigV4 check sees the query string as sent. Stock
 * moto 5 checks it against an IRI-decoded URL, so any signed query value with
 * a "/" (the probe's list prefix ".deeplens-probe/...") fails with
 * SignatureDoesNotMatch, where AWS accepts it.
 */

const LAUNCHER = fileURLToPath(new URL('./moto_server_raw_query.py', import.meta.url));

/** The Python interpreter that runs moto_server (its shebang, or the pyenv shim's `pyenv which python`). */
async function motoPython(binary: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const head = (await readFile(binary, 'utf8')).slice(0, 200);
  const shebang = /^#!\s*(\S*python[\d.]*)\s*$/m.exec(head.split('\n')[0] ?? '');
  if (shebang?.[1]) return shebang[1];
  try {
    const { stdout } = await promisify(execFile)('pyenv', ['which', 'moto_server']);
    return motoPython(stdout.trim());
  } catch {
    return 'python3';
  }
}

export interface MotoServer {
  endpoint: string;
  port: number;
  /** A user with an access key; `allowS3` attaches a policy allowing s3:*, otherwise the user may do nothing. */
  createUser(name: string, allowS3?: boolean): Promise<{ accessKeyId: string; secretAccessKey: string }>;
  stop(): Promise<void>;
}

export async function startMoto(): Promise<MotoServer> {
  const binary = await which('moto_server');
  if (!binary) throw new Error('moto_server is not on PATH: install it with `pip install "moto[server]"`');
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const python = await motoPython(binary);
  const server = startProcess('moto_server', python, [LAUNCHER, '-H', '127.0.0.1', '-p', String(port)], {
    env: { ...process.env, INITIAL_NO_AUTH_ACTION_COUNT: '0' },
  });
  try {
    await waitFor(async () => ((await fetch(`${endpoint}/moto-api/data.json`)).ok ? true : undefined), {
      what: `moto_server on ${endpoint}`,
      timeoutMs: 60_000,
      intervalMs: 100,
      alive: server.exited,
    });
  } catch (error) {
    await server.stop();
    throw error;
  }

  // IAM requests are routed by the credential scope of the Authorization header; their
  // signature is not checked inside the no-auth window the fixture opens for them.
  const iam = async (params: Record<string, string>) => {
    const response = await fetch(endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization:
          'AWS4-HMAC-SHA256 Credential=AKIAFIXTUREADMIN/20240101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0',
      },
      body: new URLSearchParams({ ...params, Version: '2010-05-08' }).toString(),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`moto IAM ${params.Action} failed: ${response.status} ${text}`);
    return text;
  };
  const tag = (xml: string, name: string) => {
    const match = new RegExp(`<${name}>([^<]+)</${name}>`).exec(xml);
    if (!match?.[1]) throw new Error(`moto IAM answer has no ${name}: ${xml}`);
    return match[1];
  };

  let queue: Promise<unknown> = Promise.resolve();
  return {
    endpoint,
    port,
    createUser(name, allowS3 = true) {
      const run = async () => {
        const actions = allowS3 ? 3 : 2;
        const reset = await fetch(`${endpoint}/moto-api/reset-auth`, {
          method: 'POST',
          headers: { 'content-type': 'text/plain' },
          body: String(actions),
        });
        if (!reset.ok) throw new Error(`moto reset-auth failed: ${reset.status}`);
        await iam({ Action: 'CreateUser', UserName: name });
        const key = await iam({ Action: 'CreateAccessKey', UserName: name });
        if (allowS3) {
          await iam({
            Action: 'PutUserPolicy',
            UserName: name,
            PolicyName: 'probe-s3',
            PolicyDocument: JSON.stringify({
              Version: '2012-10-17',
              Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }],
            }),
          });
        }
        return { accessKeyId: tag(key, 'AccessKeyId'), secretAccessKey: tag(key, 'SecretAccessKey') };
      };
      // One window at a time.
      const result = queue.then(run, run);
      queue = result.catch(() => undefined);
      return result;
    },
    stop: () => server.stop(),
  };
}
