import { expect } from 'vitest';
import type { ProbeErrorCode, ProbeResult } from '../probes/types.js';

/** A verified probe: four steps in order, all ok, no error. */
export function expectVerified(result: ProbeResult): void {
  expect(result.error, JSON.stringify(result)).toBeNull();
  expect(result.ok).toBe(true);
  expect(result.steps.map((step) => step.step)).toEqual(['write', 'read', 'list', 'delete']);
  expect(result.steps.every((step) => step.ok && step.ms >= 0)).toBe(true);
  expect(result.totalMs).toBeGreaterThanOrEqual(0);
}

/** A failed probe with the given code; returns the message for further checks. */
export function expectFailure(result: ProbeResult, code: ProbeErrorCode, retryable: boolean): string {
  expect(result.ok).toBe(false);
  expect(result.error?.code, JSON.stringify(result.error)).toBe(code);
  expect(result.error?.retryable).toBe(retryable);
  expect(result.steps.at(-1)?.ok).toBe(false);
  const message = result.error!.message;
  expect(message).not.toMatch(/\n\s+at /); // no stack trace
  return message;
}

/** No secret value (nor a long line of a multi-line one) appears in the message. */
export function expectNoSecrets(message: string, secrets: ReadonlyArray<string>): void {
  for (const secret of secrets) {
    expect(message).not.toContain(secret);
    for (const line of secret.split('\n')) if (line.trim().length >= 12) expect(message).not.toContain(line.trim());
  }
}
