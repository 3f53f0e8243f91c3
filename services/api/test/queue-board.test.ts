import { TEST_ADMIN_TOKEN, TEST_SERVICE_TOKEN } from '@deeplens/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from './helpers.js';

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi();
});
afterAll(async () => {
  await api?.close();
});

const basic = (password: string) => `Basic ${Buffer.from(`operator:${password}`).toString('base64')}`;

describe('bull-board at /admin/queues', () => {
  it('refuses requests without an admin token, asking the browser for Basic credentials', async () => {
    for (const url of ['/admin/queues', '/admin/queues/api/queues']) {
      const anonymous = await api.call('GET', url, { token: null });
      expect(anonymous.statusCode, url).toBe(401);
      expect(anonymous.headers['www-authenticate']).toMatch(/^Basic realm=/);
      expect(anonymous.json().error.code).toBe('unauthorized');
    }
    expect((await api.call('GET', '/admin/queues', { token: TEST_SERVICE_TOKEN })).statusCode).toBe(401);
    expect(
      (
        await api.call('GET', '/admin/queues', {
          token: null,
          headers: { authorization: basic('wrong-token-0123456789') },
        })
      ).statusCode,
    ).toBe(401);
  });

  it('serves the board to an admin token, as a bearer or as the Basic password', async () => {
    const page = await api.call('GET', '/admin/queues', {
      token: null,
      headers: { authorization: basic(TEST_ADMIN_TOKEN) },
    });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/html/);

    const queues = await api.call('GET', '/admin/queues/api/queues');
    expect(queues.statusCode).toBe(200);
    const names = (queues.json().queues as Array<{ name: string }>).map((queue) => queue.name);
    expect(names).toEqual(expect.arrayContaining(['provisioning', 'storage', 'usage']));
  });
});
