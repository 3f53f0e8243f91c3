import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // Tests run the TypeScript sources (shared's exports name them under this
    // condition); the dist builds are for `npm start`.
    conditions: ['@deeplens/source'],
  },
  ssr: { resolve: { conditions: ['@deeplens/source'] } },
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
