import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { AppError, DigestStream, spawnPgDump } from '@deeplens/shared';
import { storageFailure } from '@deeplens/shared/storage-clients';
import type { BackupStore } from '../storage-writers/index.js';

/**
 * The byte-moving steps of backup and restore. A dump flows
 * pg_dump → SHA-256/byte counter → storage upload with bounded buffers; a
 * download flows to a private temporary file whose checksum is compared
 * before pg_restore may read it.
 */

export interface StoredDump {
  sizeBytes: number;
  sha256: string;
}

/**
 * Streams `pg_dump --format=custom` of the database into `key`. pg_dump's
 * exit is awaited with the upload: a dump that failed half-way uploads a
 * truncated object, which is removed and never recorded as a backup.
 */
export async function dumpToStore(connectionUri: string, store: BackupStore, key: string): Promise<StoredDump> {
  const dump = spawnPgDump(connectionUri);
  const digest = new DigestStream();
  dump.stdout.pipe(digest);
  dump.stdout.once('error', (error) => digest.destroy(error));
  try {
    await Promise.all([store.upload(key, digest), dump.done]);
  } catch (error) {
    dump.child.kill('SIGTERM');
    await store.remove(key).catch(() => undefined);
    // In the platform's words: an SDK's message may quote whatever the endpoint answered.
    throw error instanceof AppError
      ? error
      : storageFailure(error, `writing the backup to ${store.target}`, 'backup_failed', 500);
  }
  return { sizeBytes: digest.bytes, sha256: digest.sha256 };
}

export interface DownloadedDump {
  file: string;
  cleanup(): Promise<void>;
}

/**
 * Downloads `key` to a temporary file and checks its size and SHA-256
 * against the backup's record; a mismatch is `backup_corrupted`, final (a
 * retry would download the same bytes).
 */
export async function downloadVerified(store: BackupStore, key: string, expected: StoredDump): Promise<DownloadedDump> {
  const dir = await mkdtemp(join(tmpdir(), 'deeplens-restore-'));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  const file = join(dir, 'backup.dump');
  try {
    const digest = new DigestStream();
    let body: Awaited<ReturnType<typeof store.download>>;
    try {
      body = await store.download(key);
    } catch (error) {
      throw storageFailure(error, `reading the backup object ${key} from ${store.target}`, 'backup_unavailable', 503);
    }
    await pipeline(body, digest, createWriteStream(file, { mode: 0o600 }));
    if (digest.sha256 !== expected.sha256 || digest.bytes !== expected.sizeBytes) {
      throw new AppError(
        'backup_corrupted',
        `the backup object ${key} does not match its record (sha256 ${digest.sha256.slice(0, 12)}…, ${digest.bytes} bytes; ` +
          `expected ${expected.sha256.slice(0, 12)}…, ${expected.sizeBytes} bytes); nothing was restored`,
        { httpStatus: 409 },
      );
    }
    return { file, cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
