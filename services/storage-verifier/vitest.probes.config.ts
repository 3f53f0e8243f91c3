import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * The storage probes' tests alone, without the repo's globalSetup (which
 * migrates the test database): `npx vitest run --config services/storage-verifier/vitest.probes.config.ts`.
 */
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  resolve: {
    alias: {
      '@deeplens/shared/testing': fileURLToPath(new URL('../../shared/src/testing/index.ts', import.meta.url)),
      '@deeplens/shared': fileURLToPath(new URL('../../shared/src/index.ts', import.meta.url)),
    },
  },
  test: {
    include: ['services/storage-verifier/src/probes/**/*.test.ts'],
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
  },
});
