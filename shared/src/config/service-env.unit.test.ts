import { describe, expect, it } from 'vitest';
import { serviceEnvironment } from './service-env.js';

const env = {
  DATABASE_URL: 'postgres://admin:admin-secret@db:5432/postgres?sslmode=require',
  DEEPLENS_DB_PREFIX: 'x_',
  DEEPLENS_PLATFORM_SERVICE_PASSWORD: 'p@ss/word',
  DEEPLENS_IDENTITY_SERVICE_PASSWORD: 'identity-secret',
  REDIS_URL: 'redis://redis:6379',
};

describe('serviceEnvironment', () => {
  it('gives every service but the provisioner the platform database as platform_service, and no admin credentials', () => {
    for (const service of ['api', 'storage-verifier', 'event-dispatcher', 'usage-aggregator']) {
      const given = serviceEnvironment(service, env);
      expect(given).toEqual({
        DEEPLENS_DB_PREFIX: 'x_',
        REDIS_URL: 'redis://redis:6379',
        DEEPLENS_PLATFORM_DATABASE_URL:
          'postgres://x_platform_service:p%40ss%2Fword@db:5432/x_deeplens_platform?sslmode=require',
      });
      expect(JSON.stringify(given)).not.toContain('admin-secret');
    }
  });

  it('keeps an operator-given platform URL, and gives the provisioner everything', () => {
    const platform = 'postgres://platform_service:pw@pg-pool:6432/deeplens_platform';
    expect(
      serviceEnvironment('api', { ...env, DEEPLENS_PLATFORM_DATABASE_URL: platform }).DEEPLENS_PLATFORM_DATABASE_URL,
    ).toBe(platform);
    expect(serviceEnvironment('provisioner', env)).toEqual(env);
  });
});
