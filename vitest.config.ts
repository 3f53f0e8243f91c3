import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Two projects, told apart by name: `*.unit.test.ts` needs no PostgreSQL,
 * Redis or emulator and runs without the global setup (`npm run test:unit`);
 * every other test file is an integration test, run after the global setup
 * migrates this run's databases. `npm test` runs both.
 */
const UNIT = ['shared/src/**/*.unit.test.ts', 'services/*/src/**/*.unit.test.ts', 'services/*/test/**/*.unit.test.ts'];

export default defineConfig({
  resolve: {
    // Tests run the TypeScript sources (shared's exports name them under this
    // condition); the dist builds are for `npm start`.
    conditions: ['@deeplens/source'],
  },
  ssr: { resolve: { conditions: ['@deeplens/source'] } },
  test: {
    // Two cores: files run two at a time; each file has its own tenants and queues.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
    projects: [
      // Unit files share nothing but the modules they import, so they run in one fork that keeps
      // those modules between files: loading @deeplens/shared once, not once per file, is most
      // of the lane's time. (Isolation is per pool, so it is switched off for this project only.)
      {
        extends: true,
        test: { name: 'unit', include: UNIT, poolOptions: { forks: { singleFork: true, isolate: false } } },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: [
            'shared/src/**/*.test.ts',
            'services/*/src/**/*.test.ts',
            'services/*/test/**/*.test.ts',
            'test/e2e/**/*.test.ts',
          ],
          exclude: [...configDefaults.exclude, ...UNIT],
          globalSetup: ['./shared/src/testing/global-setup.ts'],
        },
      },
    ],
  },
});
