import type { Command } from 'commander';
import { CliError, ExitCode, tenantPath } from '../api-client.js';
import { contextFor, type CommonOptions } from '../context.js';
import { fields } from '../output.js';
import { failIfJobFailed, waitForJob } from '../wait.js';

interface StorageView {
  provider: string;
  status: string;
  lastTestedAt: string | null;
  lastError: { code: string; message: string } | null;
  config: Record<string, unknown>;
  version?: number;
  steps?: Array<{ step: string; ms: number; ok: boolean }>;
}

const describeStorage = (storage: StorageView) =>
  fields([
    ['provider', storage.provider],
    ['status', storage.status],
    ['last tested', storage.lastTestedAt],
    ['last error', storage.lastError ? `${storage.lastError.code}: ${storage.lastError.message}` : null],
    ['version', storage.version],
    ['steps', storage.steps?.map((step) => `${step.step} ${step.ok ? 'ok' : 'failed'} ${step.ms}ms`).join(', ')],
    // Secrets arrive masked ("********"): the API never returns them.
    ...Object.entries(storage.config).map(([key, value]): [string, unknown] => [`config.${key}`, value]),
  ]);

export function registerStorageCommands(program: Command, common: (command: Command) => Command) {
  const storage = program.command('storage').description('a tenant’s own storage (BYOS)');

  common(
    storage.command('show <tenant>').description('the storage config, secrets masked, and its verification'),
  ).action(async (tenant: string, options: CommonOptions) => {
    const { client, out } = contextFor(options);
    const { body } = await client.get<StorageView>(`${tenantPath(tenant)}/storage`);
    out.result(body, () => describeStorage(body));
  });

  common(
    storage
      .command('test <tenant>')
      .description('verify the stored config again: write, read, list, delete (Test-DeepLensStorageConfig)')
      .option('--no-wait', 'return once the verification is queued'),
  ).action(async (tenant: string, options: CommonOptions & { wait: boolean }) => {
    const { client, out, waitTimeoutMs } = contextFor(options);
    const { body: accepted } = await client.request<{ jobId: string }>('POST', `${tenantPath(tenant)}/storage/test`);
    if (!options.wait) {
      out.result(accepted, () => `verifying the storage of ${tenant}; job ${accepted.jobId}`);
      return;
    }
    const job = await waitForJob(client, accepted.jobId, {
      label: `verifying the storage of ${tenant}`,
      timeoutMs: waitTimeoutMs,
    });
    const { body } = await client.get<StorageView>(`${tenantPath(tenant)}/storage`);
    out.result(body, () => describeStorage(body));
    failIfJobFailed(job, `verifying the storage of ${tenant}`);
    if (body.status === 'failed') {
      throw new CliError(
        `storage of ${tenant} failed verification: ${body.lastError ? `${body.lastError.code}: ${body.lastError.message}` : 'no reason recorded'}`,
        ExitCode.failed,
      );
    }
  });
}
