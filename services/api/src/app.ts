import {
  meteringRedisOf,
  registerPlatformGauges,
  createJobRecordsRepository,
  createTenantsRepository,
  jobSchema,
  lazyChild,
  tenantSchema,
  errorSchema,
  nfsRulesFromEnv,
  webhookUrlPolicyFromEnv,
  type DatabasePool,
  type EgressPolicy,
  type JobProducer,
  type Keyring,
  type Outbox,
  type Logger,
  type Metrics,
} from '@deeplens/shared';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController } from 'fastify';
import type { Redis } from 'ioredis';
import type { ApiEnv } from './config.js';
import authPlugin from './plugins/auth.js';
import errorPlugin, { frameworkErrors } from './plugins/errors.js';
import idempotencyPlugin from './plugins/idempotency.js';
import jsonBodyPlugin from './plugins/json-body.js';
import openApiPlugin from './plugins/openapi.js';
import queueBoardPlugin from './plugins/queue-board.js';
import { createRateLimiter } from './plugins/rate-limit.js';
import validationPlugin from './plugins/validation.js';
import { createIdempotencyRepository } from './repositories/idempotency.repository.js';
import { healthRoutes } from './routes/health.routes.js';
import { jobsRoutes } from './routes/jobs.routes.js';
import { statusRoutes } from './routes/status.routes.js';
import { eventsRoutes } from './routes/events.routes.js';
import { storageRoutes } from './routes/storage.routes.js';
import { usageRoutes } from './routes/usage.routes.js';
import { createUsageService } from './services/usage.service.js';
import { tenantsRoutes } from './routes/tenants.routes.js';
import { createStorageService } from './services/storage.service.js';
import { createTenantsService } from './services/tenants.service.js';
import { backupsRoutes } from './routes/backups.routes.js';
import { webhooksRoutes } from './routes/webhooks.routes.js';
import { createBackupsService } from './services/backups.service.js';
import { createWebhooksService } from './services/webhooks.service.js';

export interface ApiDeps {
  env: ApiEnv;
  log: Logger;
  pool: DatabasePool;
  redis: Redis;
  producer: JobProducer;
  /** Jobs recorded in a write's transaction, published after its commit. */
  outbox: Outbox;
  keyring: Keyring;
  /** Where tenants' storage endpoints may point (DEEPLENS_EGRESS_ALLOW): refused addresses are refused at PUT. */
  egress: EgressPolicy;
  metrics: Metrics;
  adminTokens: readonly string[];
  serviceTokens: readonly string[];
}

const BODY_LIMIT = 1024 * 1024;

/** The API as a Fastify instance, without a port: tests drive it through `inject`. */
export async function buildApp(deps: ApiDeps) {
  const app = Fastify({
    loggerInstance: deps.log,
    // Per-request lines cost more than the requests on the hot paths; errors and metrics tell the story.
    logController: new LogController({ disableRequestLogging: true }),
    // The per-request child logger is made only if the request logs something (see lazyChild).
    childLoggerFactory: (logger, bindings, options) => lazyChild(logger as Logger, bindings, options) as typeof logger,
    bodyLimit: BODY_LIMIT,
    return503OnClosing: true,
    // Ids come from the caller's X-Request-Id when given, so a request can be followed across services.
    requestIdHeader: 'x-request-id',
    ajv: { customOptions: { removeAdditional: false } },
    // Router-level refusals (bad URL, over-long path parameter) in the contract's error shape too.
    frameworkErrors,
  }).withTypeProvider<TypeBoxTypeProvider>();

  const httpDuration = deps.metrics.histogram(
    'deeplens_http_request_duration_seconds',
    'HTTP request latency by route, method and status',
    ['route', 'method', 'status'],
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  );
  // Callback-style hooks on every request: an async hook costs a promise and a microtask turn each.
  app.addHook('onResponse', (request, reply, done) => {
    httpDuration.observe(
      { route: request.routeOptions.url ?? 'unknown', method: request.method, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    done();
  });

  // A request still in flight when the server starts closing answers with `Connection: close`:
  // otherwise its keep-alive socket turns idle only after Node's one sweep of idle sockets and
  // holds the shutdown open until the keep-alive timeout (past close-with-grace's delay: exit 1).
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });

  app.addSchema(errorSchema);
  app.addSchema(tenantSchema);
  app.addSchema(jobSchema);
  // Before auth and the routes: OpenAPI collects the routes as they are added; both declare their own routes' access.
  await app.register(openApiPlugin);
  const limiter = createRateLimiter({
    adminPerSecond: deps.env.DEEPLENS_RATE_LIMIT_PER_SECOND,
    servicePerSecond: deps.env.DEEPLENS_SERVICE_RATE_LIMIT_PER_SECOND,
    redis: deps.env.DEEPLENS_RATE_LIMIT_SHARED ? deps.redis : undefined,
    keyPrefix: deps.env.DEEPLENS_QUEUE_PREFIX,
  });
  await app.register(queueBoardPlugin, { producer: deps.producer, adminTokens: deps.adminTokens, limiter });
  registerPlatformGauges(deps.metrics, { pool: deps.pool, producer: deps.producer });
  await app.register(errorPlugin);
  await app.register(validationPlugin);
  await app.register(jsonBodyPlugin);
  // Authentication and the rate limits by kind in one hook (plugins/rate-limit.ts says why in that order).
  await app.register(authPlugin, { adminTokens: deps.adminTokens, serviceTokens: deps.serviceTokens, limiter });
  await app.register(idempotencyPlugin, { repository: createIdempotencyRepository(deps.pool), keyring: deps.keyring });

  const tenantsRepository = createTenantsRepository(deps.pool);
  const tenants = createTenantsService({
    pool: deps.pool,
    tenants: tenantsRepository,
    producer: deps.producer,
    outbox: deps.outbox,
    keyring: deps.keyring,
    nfs: nfsRulesFromEnv(deps.env),
    egress: deps.egress,
  });
  await app.register(healthRoutes, { pool: deps.pool, redis: deps.redis, metrics: deps.metrics });
  await app.register(tenantsRoutes, { tenants });
  await app.register(storageRoutes, {
    storage: createStorageService({
      pool: deps.pool,
      tenants: tenantsRepository,
      outbox: deps.outbox,
      keyring: deps.keyring,
      nfs: nfsRulesFromEnv(deps.env),
      egress: deps.egress,
    }),
  });
  await app.register(jobsRoutes, {
    producer: deps.producer,
    outbox: deps.outbox,
    jobRecords: createJobRecordsRepository(deps.pool),
  });
  await app.register(statusRoutes, { pool: deps.pool, producer: deps.producer });
  // Usage metering: intake of API-call events, usage by month, the quota check (Redis keys under the queue prefix).
  const metering = meteringRedisOf(deps.producer);
  await app.register(eventsRoutes, {
    pool: deps.pool,
    redis: deps.redis,
    producer: deps.producer,
    settings: {
      coalesceMs: deps.env.DEEPLENS_USAGE_COALESCE_MS,
      coalesceMaxEvents: deps.env.DEEPLENS_USAGE_COALESCE_MAX_EVENTS,
      tenantCacheTtlMs: deps.env.DEEPLENS_USAGE_TENANT_CACHE_TTL_MS,
    },
  });
  await app.register(usageRoutes, {
    usage: createUsageService({
      pool: deps.pool,
      tenants: tenantsRepository,
      metering,
      quotaCacheMs: deps.env.DEEPLENS_QUOTA_CACHE_MS,
    }),
  });
  // Backups and restores (the provisioner does the work), and webhook subscribers of the domain events.
  await app.register(backupsRoutes, {
    backups: createBackupsService({
      pool: deps.pool,
      tenants: tenantsRepository,
      outbox: deps.outbox,
      platformStorage: Boolean(deps.env.DEEPLENS_DEFAULT_STORAGE),
      dbPrefix: deps.env.DEEPLENS_DB_PREFIX,
    }),
  });
  await app.register(webhooksRoutes, {
    webhooks: createWebhooksService({
      pool: deps.pool,
      keyring: deps.keyring,
      urlPolicy: webhookUrlPolicyFromEnv(deps.env),
    }),
  });
  return app;
}
