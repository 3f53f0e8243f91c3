import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';

/**
 * A pass-through that counts bytes and computes SHA-256 as data flows, so a
 * dump is measured on its way to storage without ever being held in memory.
 */
export class DigestStream extends Transform {
  private readonly hash = createHash('sha256');
  bytes = 0;
  private digest: string | null = null;

  override _transform(
    chunk: Buffer,
    _encoding: BufferEncoding,
    callback: (error?: Error | null, data?: Buffer) => void,
  ) {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: (error?: Error | null) => void) {
    this.digest = this.hash.digest('hex');
    callback();
  }

  /** The hex SHA-256 of everything that passed; only once the stream has ended. */
  get sha256(): string {
    if (this.digest === null) throw new Error('the digest is known only after the stream has ended');
    return this.digest;
  }
}
