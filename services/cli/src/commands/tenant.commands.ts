import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { CliError, ExitCode, tenantPath } from '../api-client.js';
import { contextFor, readJsonArgument, type CommonOptions } from '../context.js';
import { fields, table } from '../output.js';
import { failIfJobFailed, waitForJob } from '../wait.js';

export interface Tenant {
  id: string;
  name: string;
  displayName: string | null;
  domain: string | null;
  plan: string;
  status: string;
  statusReason: string | null;
  limits: { storageBytes: number; apiCallsPerMonth: number; maxCollections: number };
  databases: Array<{ type: string; name: string }>;
  storage: {
    provider: string;
    status: string;
    lastTestedAt: string | null;
    lastError: { code: string; message: string } | null;
  } | null;
  createdAt: string;
  updatedAt: string;
}

const describeTenant = (tenant: Tenant) =>
  fields([
    ['id', tenant.id],
    ['name', tenant.name],
    ['display name', tenant.displayName],
    ['domain', tenant.domain],
    ['plan', tenant.plan],
    ['status', tenant.statusReason ? `${tenant.status} (${tenant.statusReason})` : tenant.status],
    [
      'limits',
      `${tenant.limits.apiCallsPerMonth} API calls/month, ${tenant.limits.storageBytes} bytes, ${tenant.limits.maxCollections} collections`,
    ],
    ['databases', tenant.databases.map((database) => `${database.name} (${database.type})`).join(', ')],
    [
      'storage',
      tenant.storage
        ? `${tenant.storage.provider}, ${tenant.storage.status}${tenant.storage.lastError ? ` (${tenant.storage.lastError.code})` : ''}`
        : null,
    ],
    ['created', tenant.createdAt],
    ['updated', tenant.updatedAt],
  ]);

/** Reads one line from stdin; null when stdin ends first. */
function readLine(): Promise<string | null> {
  return new Promise((resolve) => {
    const lines = createInterface({ input: process.stdin, terminal: false });
    let answered = false;
    lines.once('line', (line) => {
      answered = true;
      lines.close();
      resolve(line.trim());
    });
    lines.once('close', () => {
      if (!answered) resolve(null);
    });
  });
}

type CreateOptions = CommonOptions & {
  domain?: string;
  plan?: string;
  displayName?: string;
  storageProvider?: string;
  storageConfig?: string;
  wait: boolean;
};

export function registerTenantCommands(program: Command, common: (command: Command) => Command) {
  const tenant = program.command('tenant').description('create, list, inspect and remove tenants');

  common(
    tenant
      .command('create <name>')
      .description('create a tenant and wait for its provisioning (New-DeepLensTenant)')
      .option('--domain <hostname>', 'the tenant’s domain, unique')
      .option('--plan <plan>', 'free | premium | enterprise (default free)')
      .option('--display-name <text>', 'a human name')
      .option(
        '--storage-provider <provider>',
        'azure_blob | aws_s3 | gcs | minio | nfs | smb (default: the platform’s MinIO)',
      )
      .option('--storage-config <json|@file>', 'the provider’s fields, as JSON or @file.json')
      .option('--no-wait', 'print the job id and return at once'),
  ).action(async (name: string, options: CreateOptions) => {
    const { client, out, waitTimeoutMs } = contextFor(options);
    if (Boolean(options.storageProvider) !== Boolean(options.storageConfig)) {
      throw new CliError('--storage-provider and --storage-config go together', ExitCode.usage);
    }
    const body = {
      name,
      ...(options.displayName ? { displayName: options.displayName } : {}),
      ...(options.domain ? { domain: options.domain } : {}),
      ...(options.plan ? { plan: options.plan } : {}),
      ...(options.storageProvider
        ? {
            storage: {
              provider: options.storageProvider,
              config: readJsonArgument(options.storageConfig!, '--storage-config'),
            },
          }
        : {}),
    };
    const { body: accepted } = await client.request<{ tenantId: string; jobId: string; status: string }>(
      'POST',
      '/v1/tenants',
      { body },
    );
    if (!options.wait) {
      out.result(accepted, () => `tenant ${name} (${accepted.tenantId}) is provisioning; job ${accepted.jobId}`);
      return;
    }
    const job = await waitForJob(client, accepted.jobId, { label: `provisioning ${name}`, timeoutMs: waitTimeoutMs });
    const { body: created } = await client.get<Tenant>(tenantPath(accepted.tenantId));
    out.result(created, () => describeTenant(created));
    failIfJobFailed(job, `provisioning ${name}`);
    if (created.status === 'failed')
      throw new CliError(`tenant ${name} failed: ${created.statusReason ?? 'no reason recorded'}`, ExitCode.failed);
  });

  common(
    tenant
      .command('list')
      .description('list tenants, following every page (Get-DeepLensTenant)')
      .option('--plan <plan>', 'only this plan')
      .option('--status <status>', 'only this status')
      .option('--limit <n>', 'at most this many tenants (default: all)')
      .option('--page-size <n>', 'tenants per request (1-200)', '200'),
  ).action(async (options: CommonOptions & { plan?: string; status?: string; limit?: string; pageSize: string }) => {
    const { client, out } = contextFor(options);
    const limit = options.limit === undefined ? Infinity : Number(options.limit);
    const pageSize = Number(options.pageSize);
    if (!(limit >= 1) || !Number.isInteger(limit === Infinity ? 1 : limit))
      throw new CliError('--limit must be a positive integer', ExitCode.usage);
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 200)
      throw new CliError('--page-size must be an integer from 1 to 200', ExitCode.usage);
    const items: Tenant[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.get<{ items: Tenant[]; nextCursor: string | null }>('/v1/tenants', {
        plan: options.plan,
        status: options.status,
        limit: Math.min(pageSize, limit - items.length),
        cursor,
      });
      items.push(...page.body.items);
      cursor = page.body.nextCursor ?? undefined;
    } while (cursor && items.length < limit);
    out.result(items, () =>
      items.length
        ? table(items, [
            { header: 'name', value: (row) => row.name },
            { header: 'plan', value: (row) => row.plan },
            { header: 'status', value: (row) => row.status },
            { header: 'domain', value: (row) => row.domain },
            {
              header: 'storage',
              value: (row) => (row.storage ? `${row.storage.provider}/${row.storage.status}` : null),
            },
            { header: 'id', value: (row) => row.id },
          ])
        : 'no tenants',
    );
  });

  common(tenant.command('get <tenant>').description('one tenant, by id or name')).action(
    async (name: string, options: CommonOptions) => {
      const { client, out } = contextFor(options);
      const { body } = await client.get<Tenant>(tenantPath(name));
      out.result(body, () => describeTenant(body));
    },
  );

  common(
    tenant
      .command('remove <tenant>')
      .description('deprovision a tenant: its databases and stored credentials go (Remove-DeepLensTenant)')
      .option('--yes', 'do not ask to type the name (for scripts)')
      .option('--no-wait', 'return once the removal is queued'),
  ).action(async (name: string, options: CommonOptions & { yes?: boolean; wait: boolean }) => {
    const { client, out, waitTimeoutMs } = contextFor(options);
    const { body: found } = await client.get<Tenant>(tenantPath(name));
    if (!options.yes) {
      process.stderr.write(
        `This drops the databases and stored credentials of tenant "${found.name}" (${found.id}).\nType the tenant's name to confirm: `,
      );
      const typed = await readLine();
      if (typed === null)
        throw new CliError('no confirmation on standard input; pass --yes to remove without asking', ExitCode.usage);
      if (typed !== found.name)
        throw new CliError(`"${typed}" is not "${found.name}"; nothing was removed`, ExitCode.failed);
    }
    const { body: accepted } = await client.request<{ jobId: string }>('DELETE', tenantPath(found.id), {
      query: { confirm: found.name },
    });
    if (!options.wait) {
      out.result(accepted, () => `tenant ${found.name} is being removed; job ${accepted.jobId}`);
      return;
    }
    const job = await waitForJob(client, accepted.jobId, { label: `removing ${found.name}`, timeoutMs: waitTimeoutMs });
    failIfJobFailed(job, `removing ${found.name}`);
    out.result(job, () => `tenant ${found.name} removed`);
  });
}
