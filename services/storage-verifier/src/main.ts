import { runWorkerService } from '@deeplens/shared';
import { reconcileStuckVerifications } from './jobs/reconcile-stuck-verifications.js';
import { verifyStorageHandler } from './jobs/verify-storage.js';
import { verifierEnvSchema } from './verification/config.js';

await runWorkerService({
  name: 'storage-verifier',
  envSchema: verifierEnvSchema,
  async start(runtime) {
    runtime.startWorker('storage', {
      'storage.verify': verifyStorageHandler({ runtime }),
    });
    const timer = setInterval(() => {
      reconcileStuckVerifications(runtime).catch((error: Error) =>
        runtime.log.warn({ errorName: error.name }, 'reconciling stuck storage verifications failed; will try again'),
      );
    }, runtime.env.DEEPLENS_STORAGE_RECONCILE_INTERVAL_MS);
    timer.unref();
    runtime.onClose(async () => clearInterval(timer));
  },
});
