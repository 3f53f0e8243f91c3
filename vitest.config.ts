import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    alias: {
      // Tests run the TypeScript sources; the services' dist builds are for `npm start`.
      '@deeplens/shared/testing': fileURLToPath(new URL('./shared/src/testing/index.ts', import.meta.url)),
      '@deeplens/shared': fileURLToPath(new URL('./shared/src/index.ts', import.meta.url)),
    },
  },
  test: {
    include: ['shared/src/**/*.test.ts', 'services/*/src/**/*.test.ts', 'services/*/test/**/*.test.ts'],
    globalSetup: ['./shared/src/testing/global-setup.ts'],
    // Two cores: files run two at a time; each file has its own tenants and queues.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
  },
});
