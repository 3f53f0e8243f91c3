import type { Command } from 'commander';
import { ApiError, CliError, ExitCode, tenantPath, type ApiClient } from '../api-client.js';
import { contextFor, type CommonOptions } from '../context.js';
import { fields, table } from '../output.js';
import { failIfJobFailed, waitForJob } from '../wait.js';

interface PlatformStatus {
  tenants: { byPlan: Record<string, number>; byStatus: Record<string, number> };
  queues: Record<string, Record<string, number>>;
  storage: { byProvider: Record<string, Record<string, number>>; flaggedTenants?: number };
  usage: { month: string; apiCalls: number };
}

const counts = (record: Record<string, number>) =>
  Object.entries(record).length
    ? Object.entries(record)
        .map(([key, n]) => `${key} ${n}`)
        .join(', ')
    : 'none';

function describeStatus(status: PlatformStatus): string {
  const queues = Object.entries(status.queues).map(([name, queue]) => ({ name, ...queue }));
  return [
    fields([
      ['tenants by plan', counts(status.tenants.byPlan)],
      ['tenants by status', counts(status.tenants.byStatus)],
      [`API calls ${status.usage.month}`, status.usage.apiCalls],
      ['storage flagged', status.storage.flaggedTenants ?? 0],
    ]),
    '',
    table(
      queues,
      ['name', 'waiting', 'active', 'delayed', 'failed', 'completed'].map((key) => ({
        header: key === 'name' ? 'queue' : key,
        value: (row: Record<string, unknown>) => row[key] ?? 0,
      })),
    ),
    '',
    Object.keys(status.storage.byProvider).length
      ? table(Object.entries(status.storage.byProvider), [
          { header: 'storage', value: ([provider]) => provider },
          { header: 'configs by status', value: ([, byStatus]) => counts(byStatus) },
        ])
      : 'no storage configs',
  ].join('\n');
}

/** Backup routes come with issue 6's backup work; an API without them says so in one line. */
async function backupCall<T>(client: ApiClient, method: string, path: string, body?: unknown): Promise<T> {
  try {
    return (await client.request<T>(method, path, body === undefined ? {} : { body })).body;
  } catch (error) {
    if (error instanceof ApiError && error.isMissingRoute) {
      throw new CliError(
        `this API has no ${method} ${path.replace(/\/v1\/tenants\/[^/]+/, '/v1/tenants/:id')} (backups are not available on it)`,
        ExitCode.notFound,
      );
    }
    throw error;
  }
}

export function registerPlatformCommands(program: Command, common: (command: Command) => Command) {
  common(program.command('status').description('the platform at a glance (Show-DeepLensStatus)')).action(
    async (options: CommonOptions) => {
      const { client, out } = contextFor(options);
      const { body } = await client.get<PlatformStatus>('/v1/status');
      out.result(body, () => describeStatus(body));
    },
  );

  common(
    program
      .command('usage <tenant>')
      .description('API calls, storage and collections against the plan')
      .option('--month <YYYY-MM>', 'default: this UTC month'),
  ).action(async (tenant: string, options: CommonOptions & { month?: string }) => {
    const { client, out } = contextFor(options);
    const { body } = await client.get<{
      tenantId: string;
      month: string;
      plan: string;
      apiCalls: { used: number; limit: number; remaining: number };
      storage: { usedBytes: number; limitBytes: number };
      collections: { used: number; limit: number };
    }>(`${tenantPath(tenant)}/usage`, { month: options.month });
    out.result(body, () =>
      fields([
        ['month', body.month],
        ['plan', body.plan],
        ['API calls', `${body.apiCalls.used} of ${body.apiCalls.limit} (${body.apiCalls.remaining} left)`],
        ['storage', `${body.storage.usedBytes} of ${body.storage.limitBytes} bytes`],
        ['collections', `${body.collections.used} of ${body.collections.limit}`],
      ]),
    );
  });

  common(
    program
      .command('backup [tenant]')
      .description('back up a tenant database into its own storage, or the platform database with --platform')
      .option('--platform', 'back up the platform database')
      .option('--list', 'list the tenant’s backups instead')
      .option('--no-wait', 'return once the backup is queued'),
  ).action(
    async (
      tenant: string | undefined,
      options: CommonOptions & { platform?: boolean; list?: boolean; wait: boolean },
    ) => {
      const { client, out, waitTimeoutMs } = contextFor(options);
      if (Boolean(tenant) === Boolean(options.platform))
        throw new CliError('name a tenant, or pass --platform', ExitCode.usage);
      if (options.list) {
        if (!tenant) throw new CliError('--list needs a tenant', ExitCode.usage);
        const body = await backupCall<unknown>(client, 'GET', `${tenantPath(tenant)}/backups`);
        const rows = (Array.isArray(body) ? body : ((body as { items?: unknown[] })?.items ?? [])) as Array<
          Record<string, unknown>
        >;
        out.result(body, () =>
          rows.length
            ? table(
                rows,
                ['id', 'status', 'sizeBytes', 'sha256', 'createdAt'].map((key) => ({
                  header: key,
                  value: (row: Record<string, unknown>) => row[key],
                })),
              )
            : 'no backups',
        );
        return;
      }
      const path = tenant ? `${tenantPath(tenant)}/backups` : '/v1/platform/backups';
      const accepted = await backupCall<{ jobId: string }>(client, 'POST', path, {});
      const what = tenant ? `backing up ${tenant}` : 'backing up the platform database';
      if (!options.wait) {
        out.result(accepted, () => `${what}; job ${accepted.jobId}`);
        return;
      }
      const job = await waitForJob(client, accepted.jobId, { label: what, timeoutMs: waitTimeoutMs });
      failIfJobFailed(job, what);
      out.result(job, () => `${what}: done${job.result ? `\n${JSON.stringify(job.result, null, 2)}` : ''}`);
    },
  );

  common(
    program
      .command('restore <tenant>')
      .description('restore a backup into a new database, and swap it in with --swap')
      .requiredOption('--backup <id>', 'the backup to restore')
      .option('--swap', 'make the restored database the tenant’s database')
      .option('--no-wait', 'return once the restore is queued'),
  ).action(async (tenant: string, options: CommonOptions & { backup: string; swap?: boolean; wait: boolean }) => {
    const { client, out, waitTimeoutMs } = contextFor(options);
    const accepted = await backupCall<{ jobId: string }>(client, 'POST', `${tenantPath(tenant)}/restore`, {
      backupId: options.backup,
      swap: Boolean(options.swap),
    });
    const what = `restoring ${tenant} from ${options.backup}`;
    if (!options.wait) {
      out.result(accepted, () => `${what}; job ${accepted.jobId}`);
      return;
    }
    const job = await waitForJob(client, accepted.jobId, { label: what, timeoutMs: waitTimeoutMs });
    failIfJobFailed(job, what);
    out.result(job, () => `${what}: done${job.result ? `\n${JSON.stringify(job.result, null, 2)}` : ''}`);
  });
}
