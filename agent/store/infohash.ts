import { InvalidInfoHashError } from '../errors.js';

/** Length of a BitTorrent v1 info hash (SHA-1), BEP 3. */
export const INFO_HASH_V1_LENGTH = 20;
/** Length of a BitTorrent v2 info hash (SHA-256), BEP 52. */
export const INFO_HASH_V2_LENGTH = 32;

/**
 * The key the Store uses for an info hash: its lowercase hex form. A string keeps
 * Map lookups cheap and makes keys readable in logs and digests.
 */
export type InfoHashKey = string;

/** Validates raw info-hash bytes (20 or 32 bytes) and returns the Store key. */
export function infoHashKey(bytes: Uint8Array, field = 'info_hash'): InfoHashKey {
  if (bytes.length !== INFO_HASH_V1_LENGTH && bytes.length !== INFO_HASH_V2_LENGTH) {
    throw new InvalidInfoHashError(
      `must be ${INFO_HASH_V1_LENGTH} bytes (v1) or ${INFO_HASH_V2_LENGTH} bytes (v2), got ${bytes.length}`,
      field,
    );
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** The raw bytes of a Store key. */
export function infoHashBytes(key: InfoHashKey): Buffer {
  return Buffer.from(key, 'hex');
}
