import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import type { InfoHashKey } from '../store/infohash.js';
import type { ProviderRecord } from '../store/record.js';
import { BatchSigner, type BatchSignerOptions } from './batch-signer.js';

/**
 * Ed25519 (RFC 8032) signatures over provider records. The signed bytes are a
 * canonical, unambiguous encoding (provider.proto `signature`): a tag, then the
 * variable fields each with a 2-byte length, then the fixed-size ones.
 */

const TAG = Buffer.from('btoverlay-record-v1', 'latin1');
/** Ed25519 public key length, bytes (RFC 8032 §5.1.5). */
export const PUBLIC_KEY_BYTES = 32;
/** Ed25519 signature length, bytes (RFC 8032 §5.1.6). */
export const SIGNATURE_BYTES = 64;

/** Writes a safe integer ≥ 0 as 8 bytes big-endian (as writeBigUInt64BE). */
function writeUint64(out: Buffer, x: number, o: number): number {
  if (!Number.isSafeInteger(x) || x < 0) return out.writeBigUInt64BE(BigInt(x), o);
  const hi = Math.floor(x / 2 ** 32);
  out.writeUInt32BE(hi, o);
  return out.writeUInt32BE(x - hi * 2 ** 32, o + 4);
}

/** Writes a safe integer as 8 bytes big-endian two's complement (as writeBigInt64BE). */
function writeInt64(out: Buffer, x: number, o: number): number {
  if (!Number.isSafeInteger(x)) return out.writeBigInt64BE(BigInt(x), o);
  const hi = Math.floor(x / 2 ** 32);
  out.writeInt32BE(hi, o);
  return out.writeUInt32BE(x - hi * 2 ** 32, o + 4);
}

/**
 * The bytes a record's signature covers. `signer` is the raw public key as latin1.
 * Written into one buffer (this runs once per announce a tracker signs).
 */
export function canonicalRecord(key: InfoHashKey, r: ProviderRecord, signer: string): Buffer {
  const originBytes = Buffer.byteLength(r.origin, 'utf8');
  const addrBytes = Buffer.byteLength(r.addr, 'utf8');
  const max =
    TAG.length + 4 * 2 + originBytes + (key.length >>> 1) + addrBytes + r.peerId.length + 8 + 8 + 1;
  const out = Buffer.allocUnsafe(max + PUBLIC_KEY_BYTES);
  let o = TAG.copy(out, 0);
  o = out.writeUInt16BE(originBytes, o);
  o += out.write(r.origin, o, 'utf8');
  // Hex stops at the first pair that is not hex, as Buffer.from(key, 'hex') does.
  const keyBytes = out.write(key, o + 2, 'hex');
  out.writeUInt16BE(keyBytes, o);
  o += 2 + keyBytes;
  o = out.writeUInt16BE(addrBytes, o);
  o += out.write(r.addr, o, 'utf8');
  o = out.writeUInt16BE(r.peerId.length, o);
  o += out.write(r.peerId, o, 'latin1');
  o = writeUint64(out, r.left, o);
  o = writeInt64(out, r.lastSeen, o);
  out[o++] = r.removed ? 1 : 0;
  const written = out.write(signer, o, PUBLIC_KEY_BYTES, 'latin1');
  out.fill(0, o + written, o + PUBLIC_KEY_BYTES);
  return out.subarray(0, o + PUBLIC_KEY_BYTES);
}

/** `r` with its signature (explicit fields: this runs once per announce a tracker signs). */
function withSignature(r: ProviderRecord, signer: string, sig: string): ProviderRecord {
  return {
    addr: r.addr,
    peerId: r.peerId,
    left: r.left,
    lastSeen: r.lastSeen,
    origin: r.origin,
    removed: r.removed,
    signer,
    sig,
  };
}

/** Something that signs records as this agent. */
export interface RecordSigner {
  /** Raw 32-byte public key as latin1 (the record's `signer`). */
  readonly publicKey: string;
  /** Returns the record with `signer` and `sig` set. */
  sign(key: InfoHashKey, r: ProviderRecord): ProviderRecord;
  /**
   * As `sign`, with the Ed25519 computation off the event loop: ~50 µs per record
   * here, which a busy tracker endpoint would otherwise spend on its only
   * JavaScript thread. Records are signed in batches on a worker thread
   * (batch-signer.ts), each with its own signature. Rejects with
   * ResourceExhaustedError (bound `signing_backlog`) when too many records wait.
   */
  signAsync(key: InfoHashKey, r: ProviderRecord): Promise<ProviderRecord>;
}

/**
 * A signer from an Ed25519 private key. The worker behind `signAsync` starts on
 * its first use; `batch` bounds it (DEFAULT_BATCH_SIGNER_OPTIONS).
 */
export function createRecordSigner(
  privateKey: KeyObject,
  publicKeyRaw: Buffer,
  batch: Partial<BatchSignerOptions> = {},
): RecordSigner {
  const publicKey = publicKeyRaw.toString('latin1');
  let batcher: BatchSigner | undefined;
  return {
    publicKey,
    sign(key, r) {
      const sig = sign(null, canonicalRecord(key, r, publicKey), privateKey).toString('latin1');
      return { ...r, signer: publicKey, sig };
    },
    signAsync(key, r) {
      batcher ??= new BatchSigner(privateKey, batch);
      return batcher
        .sign(canonicalRecord(key, r, publicKey))
        .then((sig) => withSignature(r, publicKey, sig));
    },
  };
}

/** Turns raw Ed25519 public key bytes into a KeyObject; throws on a malformed key. */
export function publicKeyObject(raw: Buffer): KeyObject {
  return createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') },
    format: 'jwk',
  });
}

/** Whether `r.sig` is a valid signature by `r.signer` (false when unsigned or malformed). */
export function verifyRecord(key: InfoHashKey, r: ProviderRecord, signerKey: KeyObject): boolean {
  if (r.signer === undefined || r.sig === undefined || r.sig.length !== SIGNATURE_BYTES) {
    return false;
  }
  return verify(null, canonicalRecord(key, r, r.signer), signerKey, Buffer.from(r.sig, 'latin1'));
}
