import { httpApiClient, waitForJob } from './api.js';
import { testEnv } from './env.js';
import { freePort } from './ports.js';
import { startService, type ServiceProcess } from './processes.js';

const PLATFORM_SERVICES = ['api', 'provisioner', 'storage-verifier'] as const;
type PlatformService = (typeof PLATFORM_SERVICES)[number];

/**
 * The platform as it runs in production, each service its own process: the
 * API over real HTTP, the provisioner and the storage verifier. Their output
 * is kept, so tests can search every log line they wrote.
 */
export async function startPlatform(overrides: Record<string, string> = {}) {
  const port = await freePort();
  const env = testEnv({ HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'debug', ...overrides });
  const services: ServiceProcess[] = [];
  try {
    for (const name of PLATFORM_SERVICES) services.push(await startService(name, env));
  } catch (error) {
    await Promise.all(services.map((service) => service.stop()));
    throw error;
  }
  const call = httpApiClient(`http://127.0.0.1:${port}`);
  const platform = {
    env,
    call,
    /** The processes, by service name: tests check one is still running after an attack. */
    process: (name: PlatformService) => services[PLATFORM_SERVICES.indexOf(name)]!,
    /** Every line the three services wrote so far. */
    logs: () => services.flatMap((service) => service.output).join('\n'),
    async job(jobId: string) {
      return (await call('GET', `/v1/jobs/${jobId}`)).json();
    },
    waitForJob: (jobId: string, timeoutMs = 60_000) => waitForJob(platform, jobId, { timeoutMs }),
    async stop() {
      await Promise.all(services.map((service) => service.stop()));
    },
  };
  return platform;
}

export type Platform = Awaited<ReturnType<typeof startPlatform>>;
