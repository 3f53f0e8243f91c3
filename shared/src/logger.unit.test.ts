import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, lazyChild } from './logger.js';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      lines.push(JSON.parse(String(chunk)));
      callback();
    },
  });
  return { lines, logger: createLogger({ name: 'test', level: 'info', destination }) };
}

describe('lazyChild', () => {
  it('makes the child only when something is logged, with its bindings and the parent redaction', async () => {
    const { lines, logger } = capture();
    let children = 0;
    const parent = new Proxy(logger, {
      get: (target, property, receiver) =>
        property === 'child'
          ? (...args: Parameters<typeof logger.child>) => {
              children += 1;
              return target.child(...args);
            }
          : Reflect.get(target, property, receiver),
    });

    const quiet = lazyChild(parent, { reqId: 'req-1' });
    expect(quiet.level).toBe('info');
    const unused = lazyChild(parent, { reqId: 'req-2' });
    // Fastify checks every request's child for these methods: looking must not make it.
    for (const method of ['info', 'error', 'debug', 'fatal', 'warn', 'trace', 'child'] as const) {
      expect(typeof unused[method]).toBe('function');
    }
    expect(children).toBe(1); // reading the level made one; looking at methods did not

    const noisy = lazyChild(parent, { reqId: 'req-3' });
    noisy.warn({ token: 'tok-secret', detail: 'x' }, 'something happened');
    noisy.child({ step: 'inner' }).error('inner failure');
    await new Promise((resolve) => setImmediate(resolve));

    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({
      reqId: 'req-3',
      msg: 'something happened',
      token: '********',
      detail: 'x',
      level: 'warn',
    });
    expect(lines[1]).toMatchObject({ reqId: 'req-3', step: 'inner', msg: 'inner failure', level: 'error' });
    expect(JSON.stringify(lines)).not.toContain('tok-secret');
  });
});
