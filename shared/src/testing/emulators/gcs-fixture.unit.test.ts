import { Storage } from '@google-cloud/storage';
import { LIBRARY_TOKEN_URL } from '../../storage-clients/gcs-client.js';
import { DefaultTransporter, JWT } from 'google-auth-library';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGcsFixture, type GcsFixture } from './gcs-fixture.js';

/**
 * The fixture's fidelity, checked by Google's own client. DeepLens does not
 * use @google-cloud/storage (its request layer takes no custom agent and
 * follows redirects, so it cannot be held to the egress policy): it calls the
 * JSON API through google-auth-library on the guarded agents, and its tests
 * run against this fixture. Here the official client, with its own JWT
 * grant, does the same operations against the fixture, so a fixture that
 * drifted from what Google's servers speak fails here, not silently.
 */
describe('the GCS fixture, as the official @google-cloud/storage client sees it', () => {
  let gcs: GcsFixture;
  let storage: Storage;
  const bucketName = 'fixture-fidelity';

  beforeAll(async () => {
    gcs = await startGcsFixture();
    const account = gcs.addServiceAccount('official-client');
    gcs.addBucket(bucketName, [account.email]);
    const key = JSON.parse(account.keyJson) as { client_email: string; private_key: string };
    // google-auth-library posts its grant to Google's URL whatever the key's token_uri says: send it to the fixture's.
    class FixtureTokenTransporter extends DefaultTransporter {
      override request<T>(opts: Parameters<DefaultTransporter['request']>[0]) {
        return super.request<T>(opts.url?.toString() === LIBRARY_TOKEN_URL ? { ...opts, url: gcs.tokenUri } : opts);
      }
    }
    const authClient = new JWT({
      email: key.client_email,
      key: key.private_key,
      scopes: ['https://www.googleapis.com/auth/devstorage.read_write'],
      transporter: new FixtureTokenTransporter(),
    });
    storage = new Storage({
      projectId: 'deeplens-test',
      authClient,
      apiEndpoint: gcs.endpoint,
      useAuthWithCustomEndpoint: true,
      retryOptions: { autoRetry: false, maxRetries: 0 },
    });
  });
  afterAll(() => gcs?.stop());

  it('grants a token for a signed JWT, and serves upload, download, list and delete as Google does', async () => {
    const bucket = storage.bucket(bucketName);
    const body = Buffer.from('fixture fidelity: the official client round-trips this object');
    await bucket
      .file('dir/object.bin')
      .save(body, { resumable: false, validation: false, contentType: 'application/octet-stream' });
    const [downloaded] = await bucket.file('dir/object.bin').download({ validation: false });
    expect(downloaded.equals(body)).toBe(true);
    const [files] = await bucket.getFiles({ prefix: 'dir/', maxResults: 10, autoPaginate: false });
    expect(files.map((file) => file.name)).toEqual(['dir/object.bin']);
    await bucket.file('dir/object.bin').delete();
    expect(gcs.objects(bucketName)).toEqual([]);
    // The official client authenticated through the fixture's token endpoint (RS256 JWT-bearer grant).
    expect(gcs.requests.some((request) => request.method === 'POST' && request.path === '/token')).toBe(true);
  });

  it("answers a missing bucket and a missing object with Google's status codes, which the official client raises", async () => {
    await expect(
      storage.bucket('no-such-bucket').file('x').save(Buffer.from('x'), { resumable: false }),
    ).rejects.toMatchObject({ code: 404 });
    await expect(storage.bucket(bucketName).file('missing').download()).rejects.toMatchObject({ code: 404 });
  });
});
