import { runWorkerService } from '@deeplens/shared';
import { verifyStorageHandler } from './jobs/verify-storage.js';
import { verifierEnvSchema } from './verification/config.js';

await runWorkerService({
  name: 'storage-verifier',
  envSchema: verifierEnvSchema,
  async start(runtime) {
    runtime.startWorker('storage', {
      'storage.verify': verifyStorageHandler({ runtime }),
    });
  },
});
