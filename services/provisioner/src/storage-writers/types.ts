import type { Readable } from 'node:stream';

/**
 * Where backups go: the tenant's own storage (or the platform's default),
 * reached with the same SDKs as the storage-verifier's probes. Bodies are
 * streams both ways; nothing holds a whole dump in memory.
 */
export interface BackupStore {
  /** A readable description for messages, never with a secret. */
  readonly target: string;
  /** Writes `body` to `key`, replacing any earlier object of that key (a retry writes the same key). */
  upload(key: string, body: Readable): Promise<void>;
  download(key: string): Promise<Readable>;
  /** Best effort; a missing object is not an error. */
  remove(key: string): Promise<void>;
  close(): Promise<void>;
}
