// Checksums of the container (Node): CRC-32 (zlib's polynomial) of stored bytes, SHA-256 of
// original tensors and files. Incremental, so large tensors can be hashed chunk by chunk.

import { type Hash, createHash } from 'node:crypto';
import { crc32 as zlibCrc32 } from 'node:zlib';

/** CRC-32 of `data`, continuing from `previous` (the CRC of the bytes before it). */
export function crc32(data: Uint8Array, previous = 0): number {
  // zlib.crc32 of a view over a zero-length ArrayBuffer returns 0 whatever `previous` is (Node 20):
  // a zero-length component must not reset the running value.
  if (data.byteLength === 0) return previous >>> 0;
  return zlibCrc32(data, previous) >>> 0;
}

/** Incremental SHA-256 with a lowercase hex digest. */
export class Sha256 {
  private readonly hash: Hash = createHash('sha256');
  update(data: Uint8Array): this {
    this.hash.update(data);
    return this;
  }
  hex(): string {
    return this.hash.digest('hex');
  }
}

/** Lowercase hex SHA-256 of `data`. */
export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
