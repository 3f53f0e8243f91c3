import {
  baseEnvSchema,
  catalogBackoffStrategy,
  jitteredExponentialDelay,
  jobCatalog,
  parseEnv,
} from '@deeplens/shared';
import { describe, expect, it } from 'vitest';

describe('storage.verify retry policy', () => {
  it('jittered exponential backoff: retry n waits between half and all of delay·2^(n-1), capped at 10 minutes', () => {
    expect(jitteredExponentialDelay(1, 1000, () => 0)).toBe(500);
    expect(jitteredExponentialDelay(1, 1000, () => 1)).toBe(1000);
    expect(jitteredExponentialDelay(3, 1000, () => 0)).toBe(2000);
    expect(jitteredExponentialDelay(3, 1000, () => 1)).toBe(4000);
    expect(jitteredExponentialDelay(30, 1000, () => 1)).toBe(600_000);
    // Real randomness spreads retries that failed together.
    const delays = new Set(Array.from({ length: 50 }, () => jitteredExponentialDelay(2, 1000)));
    expect(delays.size).toBeGreaterThan(10);
    for (const delay of delays) expect(delay >= 1000 && delay <= 2000).toBe(true);
  });

  it('the workers serve the custom type and refuse to retry a type they do not know', () => {
    const job = { opts: { backoff: { type: 'exponential-jitter', delay: 400 } } } as never;
    const delay = catalogBackoffStrategy(2, 'exponential-jitter', new Error('x'), job) as number;
    expect(delay).toBeGreaterThanOrEqual(400);
    expect(delay).toBeLessThanOrEqual(800);
    expect(catalogBackoffStrategy(2, 'no-such-type', new Error('x'), job)).toBe(-1);
  });

  it('attempts and backoff come from the parsed environment of whoever enqueues, with defaults', () => {
    const retryOf = (env: Record<string, string>) =>
      jobCatalog['storage.verify'].retry(parseEnv(baseEnvSchema, { NODE_ENV: 'development', ...env }));
    expect(retryOf({})).toEqual({ attempts: 4, backoff: { type: 'exponential-jitter', delay: 2000 } });
    expect(retryOf({ DEEPLENS_STORAGE_VERIFY_ATTEMPTS: '7', DEEPLENS_STORAGE_VERIFY_BACKOFF_MS: '250' })).toEqual({
      attempts: 7,
      backoff: { type: 'exponential-jitter', delay: 250 },
    });
    expect(() => retryOf({ DEEPLENS_STORAGE_VERIFY_ATTEMPTS: 'many' })).toThrow(/DEEPLENS_STORAGE_VERIFY_ATTEMPTS/);
  });
});
