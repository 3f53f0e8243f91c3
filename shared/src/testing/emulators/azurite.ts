import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { waitFor } from '../wait.js';
import { freePort } from '../ports.js';
import { makeTempDir, startProcess } from '../processes.js';

/**
 * Azurite's blob service (npm `azurite`, a devDependency) on 127.0.0.1 with
 * its data in a temp dir. It checks SharedKey signatures for the well-known
 * development account below, so a wrong account key is rejected as in Azure.
 */

export const DEV_ACCOUNT = 'devstoreaccount1';
/** Azurite's published development key (not a secret: it is in Microsoft's docs). */
export const DEV_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzuriteServer {
  port: number;
  blobEndpoint: string;
  connectionString(accountKey?: string): string;
  stop(): Promise<void>;
}

export async function startAzurite(): Promise<AzuriteServer> {
  const require = createRequire(import.meta.url);
  const packageJson = require.resolve('azurite/package.json');
  const main = join(
    dirname(packageJson),
    (require(packageJson) as { bin: Record<string, string> }).bin['azurite-blob']!,
  );
  const port = await freePort();
  const data = await makeTempDir('azurite');
  const server = startProcess('azurite-blob', process.execPath, [
    main,
    '--blobHost',
    '127.0.0.1',
    '--blobPort',
    String(port),
    '--location',
    data.path,
    '--silent',
    '--skipApiVersionCheck',
    '--loose',
  ]);
  const blobEndpoint = `http://127.0.0.1:${port}/${DEV_ACCOUNT}`;
  try {
    // Any HTTP answer (an unauthenticated request gets 4xx) means the service is up.
    await waitFor(async () => ((await fetch(`${blobEndpoint}?comp=list`)).status > 0 ? true : undefined), {
      what: `azurite-blob on ${blobEndpoint}`,
      timeoutMs: 60_000,
      intervalMs: 100,
      alive: server.exited,
    });
  } catch (error) {
    await server.stop();
    await data.remove();
    throw error;
  }
  return {
    port,
    blobEndpoint,
    connectionString: (accountKey = DEV_KEY) =>
      `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${accountKey};BlobEndpoint=${blobEndpoint};`,
    async stop() {
      await server.stop();
      await data.remove();
    },
  };
}
