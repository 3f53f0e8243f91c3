import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SERVICE_NODE_FLAGS } from './service-flags.js';

const repositoryRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

describe('SERVICE_NODE_FLAGS', () => {
  it('are what the container image runs the services with', () => {
    const dockerfile = readFileSync(resolve(repositoryRoot, 'infra/docker/Dockerfile'), 'utf8');
    const options = /^ENV NODE_OPTIONS="([^"]*)"$/m.exec(dockerfile)?.[1];
    expect(options?.split(' ')).toEqual([...SERVICE_NODE_FLAGS]);
  });

  it('are flags this Node accepts', () => {
    for (const flag of SERVICE_NODE_FLAGS)
      expect(process.allowedNodeEnvironmentFlags.has(flag.split('=')[0]!)).toBe(true);
  });
});
