import { describe, expect, it } from 'vitest';
import { failure, PROBE_PREFIX, runProbe, type ProbeDefinition, type ProbeOperations } from './probe-runner.js';
import { testProbeOptions } from '../test-support/probe-options.js';

/** The shared step runner, with in-memory operations (the provider tests use live servers). */

type Calls = string[];

function memoryOps(calls: Calls, overrides: Partial<ProbeOperations> = {}): ProbeOperations {
  const store = new Map<string, Buffer>();
  return {
    write: async (key, body) => {
      calls.push(`write ${key.startsWith(PROBE_PREFIX)}`);
      store.set(key, Buffer.from(body));
    },
    read: async (key) => {
      calls.push('read');
      return store.get(key)!;
    },
    list: async (key) => {
      calls.push('list');
      return store.has(key);
    },
    remove: async (key) => {
      calls.push('remove');
      store.delete(key);
    },
    close: () => calls.push('close'),
    ...overrides,
  };
}

function definition(ops: ProbeOperations, secrets: string[] = []): ProbeDefinition {
  return {
    target: 'the test store',
    secrets,
    open: () => ops,
    classify: (error) => failure('provider_error', `classified: ${(error as Error).message}`),
  };
}

const never = () => new Promise<never>(() => undefined);
const options = testProbeOptions({ stepTimeoutMs: 200, totalTimeoutMs: 2000 });

describe('runProbe', () => {
  it('runs write, read, list, delete in order and closes the client', async () => {
    const calls: Calls = [];
    const result = await runProbe(definition(memoryOps(calls)), options);
    expect(result.ok).toBe(true);
    expect(result.steps.map((step) => `${step.step}:${step.ok}`)).toEqual([
      'write:true',
      'read:true',
      'list:true',
      'delete:true',
    ]);
    expect(calls).toEqual(['write true', 'read', 'list', 'remove', 'close']);
  });

  it('stops a step at stepTimeoutMs (timeout, retryable) and still deletes the probe object', async () => {
    const calls: Calls = [];
    const result = await runProbe(definition(memoryOps(calls, { read: never })), options);
    expect(result.error).toEqual({
      code: 'timeout',
      retryable: true,
      message: 'the read step against the test store did not finish within 200 ms',
    });
    expect(result.steps.map((step) => step.step)).toEqual(['write', 'read']);
    expect(calls).toEqual(['write true', 'remove', 'close']);
  });

  it('bounds the whole probe by totalTimeoutMs', async () => {
    // A list step that never ends, under a step bound far above the total one: only the total bound can stop it.
    const calls: Calls = [];
    const result = await runProbe(
      definition(memoryOps(calls, { list: never })),
      testProbeOptions({ stepTimeoutMs: 1000, totalTimeoutMs: 150 }),
    );
    expect(result.error?.code).toBe('timeout');
    expect(result.error?.message).toContain('did not finish within 150 ms');
    expect(result.totalMs).toBeLessThan(1000);
  });

  it('stops when the caller aborts its signal', async () => {
    const controller = new AbortController();
    // The caller gives up while the write is running (the write itself never ends).
    const write = () => {
      controller.abort();
      return never();
    };
    const result = await runProbe(definition(memoryOps([], { write })), {
      ...options,
      stepTimeoutMs: 5000,
      signal: controller.signal,
    });
    expect(result.error?.code).toBe('timeout');
    expect(result.error?.message).toContain('cancelled');
  });

  it('fails the read step when the checksum differs', async () => {
    const calls: Calls = [];
    const result = await runProbe(
      definition(memoryOps(calls, { read: async () => Buffer.from('something else') })),
      options,
    );
    expect(result.error?.code).toBe('provider_error');
    expect(result.error?.retryable).toBe(false);
    expect(result.error?.message).toContain('SHA-256 mismatch');
    expect(calls).toContain('remove');
  });

  it('fails the list step when the listing does not show the object', async () => {
    const result = await runProbe(definition(memoryOps([], { list: async () => false })), options);
    expect(result.steps.at(-1)).toMatchObject({ step: 'list', ok: false });
    expect(result.error?.message).toContain('did not show the object');
  });

  it('does not retry the delete after the delete step itself failed', async () => {
    const calls: Calls = [];
    const remove = async () => {
      calls.push('remove');
      throw new Error('nope');
    };
    const result = await runProbe(definition(memoryOps(calls, { remove })), options);
    expect(result.error?.message).toBe('classified: nope');
    expect(calls.filter((call) => call === 'remove')).toHaveLength(1);
  });

  it('scrubs secrets from classified messages and flattens control characters', async () => {
    const result = await runProbe(
      definition(
        memoryOps([], { write: async () => Promise.reject(new Error('bad key hunter2-secret-value\nsecond line')) }),
        ['hunter2-secret-value'],
      ),
      options,
    );
    expect(result.error?.message).toBe('classified: bad key [redacted] second line');
  });

  it('classifies a failure to build the client (open) as a write-step failure', async () => {
    const result = await runProbe(
      {
        ...definition(memoryOps([])),
        open: () => {
          throw new Error('bad config');
        },
      },
      options,
    );
    expect(result.steps).toEqual([expect.objectContaining({ step: 'write', ok: false })]);
    expect(result.error?.message).toBe('classified: bad config');
  });
});
