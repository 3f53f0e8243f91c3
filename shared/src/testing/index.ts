/**
 * The test kit (`@deeplens/shared/testing`): what tests of every service
 * share, so no test file reaches into another service or writes its own copy.
 * Emulators of the outside world are under `emulators/`, exported here too.
 */
export { httpApiClient, waitForJob, waitForReady } from './api.js';
export { dumpPlatformDatabase, dumpRedis } from './dumps.js';
export { enqueueJob } from './enqueue.js';
export { TEST_ADMIN_TOKEN, TEST_ENCRYPTION_KEY, TEST_SERVICE_TOKEN, testEnv, uniqueName } from './env.js';
export { inOutboxTransaction } from './outbox.js';
export { apiCallEvent } from './events.js';
export { startPlatform, type Platform } from './platform.js';
export { freePort } from './ports.js';
export { seededRandom, shuffle, testSeed } from './random.js';
export {
  startPrivatePostgres,
  startPrivateRedis,
  type PrivatePostgres,
  type PrivateRedis,
} from './private-services.js';
export { makeTempDir, startService, type ServiceProcess } from './processes.js';
export { makeTenantLogin, tenantLoginUri } from './tenant-login.js';
export { waitFor } from './wait.js';
export * from './emulators/index.js';
