import { runWorkerService } from '@deeplens/shared';
import { reconcileStuckVerifications } from './tasks/reconcile-stuck-verifications.js';
import { verifyStorageHandler } from './jobs/verify-storage.js';
import { verifierEnvSchema } from './verification/config.js';

await runWorkerService({
  name: 'storage-verifier',
  envSchema: verifierEnvSchema,
  async start(runtime) {
    runtime.startWorker('storage', {
      'storage.verify': verifyStorageHandler({ runtime }),
    });
    runtime.every(
      {
        name: 'stuck verification reconciliation',
        intervalMs: runtime.env.DEEPLENS_STORAGE_RECONCILE_INTERVAL_MS,
        exclusive: true,
      },
      () => reconcileStuckVerifications(runtime),
    );
  },
});
