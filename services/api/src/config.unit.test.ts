import { ConfigError } from '@deeplens/shared';
import { describe, expect, it } from 'vitest';
import { loadApiEnv } from './config.js';

describe('API configuration', () => {
  it('reports every bad variable at once', () => {
    let error: unknown;
    try {
      loadApiEnv({
        NODE_ENV: 'production',
        PORT: 'eighty',
        DATABASE_URL: 'not a url',
        DEEPLENS_DB_PREFIX: 'Bad-Prefix',
        DEEPLENS_ENCRYPTION_KEY: 'short',
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toMatch(/PORT/);
    expect(problems).toMatch(/DATABASE_URL/);
    expect(problems).toMatch(/DEEPLENS_DB_PREFIX/);
    expect(problems).toMatch(/DEEPLENS_ENCRYPTION_KEY: key .* shorter than 16/);
    // The key itself never appears in the message.
    expect((error as Error).message).not.toContain('short"');
  });

  it('refuses to start outside development without an admin token and an encryption key', () => {
    expect(() => loadApiEnv({ NODE_ENV: 'production' })).toThrow(
      /DEEPLENS_ENCRYPTION_KEY: required[\s\S]*DEEPLENS_ADMIN_TOKENS: at least one admin token/,
    );
  });

  it('is in production when NODE_ENV is not set: nothing set is a refusal naming the admin tokens and the key', () => {
    expect(() => loadApiEnv({})).toThrow(
      /DEEPLENS_ENCRYPTION_KEY: required[\s\S]*DEEPLENS_ADMIN_TOKENS: at least one admin token/,
    );
    const env = loadApiEnv({
      DEEPLENS_ADMIN_TOKENS: 'an-admin-token-0123456789',
      DEEPLENS_ENCRYPTION_KEY: 'k1:0123456789abcdef',
    });
    expect(env.NODE_ENV).toBe('production');
  });

  it('starts on a developer machine with only NODE_ENV=development set, with the documented defaults', () => {
    const env = loadApiEnv({ NODE_ENV: 'development' });
    expect(env).toMatchObject({
      NODE_ENV: 'development',
      HOST: '127.0.0.1',
      PORT: 8080,
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres',
      REDIS_URL: 'redis://127.0.0.1:6379',
      DEEPLENS_DB_PREFIX: '',
      DEEPLENS_QUEUE_PREFIX: 'deeplens',
      DEEPLENS_ADMIN_TOKENS: [],
    });
    expect(Object.isFrozen(env)).toBe(true);
  });
});
