import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import type { InfoHashKey } from '../store/infohash.js';
import type { ProviderRecord } from '../store/record.js';

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

/** The bytes a record's signature covers. `signer` is the raw public key as latin1. */
export function canonicalRecord(key: InfoHashKey, r: ProviderRecord, signer: string): Buffer {
  const origin = Buffer.from(r.origin, 'utf8');
  const infoHash = Buffer.from(key, 'hex');
  const addr = Buffer.from(r.addr, 'utf8');
  const peerId = Buffer.from(r.peerId, 'latin1');
  const parts = [origin, infoHash, addr, peerId];
  let size = TAG.length + 8 + 8 + 1 + PUBLIC_KEY_BYTES;
  for (const p of parts) size += 2 + p.length;
  const out = Buffer.alloc(size);
  let o = TAG.copy(out, 0);
  for (const p of parts) {
    o = out.writeUInt16BE(p.length, o);
    o += p.copy(out, o);
  }
  o = out.writeBigUInt64BE(BigInt(r.left), o);
  o = out.writeBigInt64BE(BigInt(r.lastSeen), o);
  o = out.writeUInt8(r.removed ? 1 : 0, o);
  out.write(signer, o, 'latin1');
  return out;
}

/** Something that signs records as this agent. */
export interface RecordSigner {
  /** Raw 32-byte public key as latin1 (the record's `signer`). */
  readonly publicKey: string;
  /** Returns the record with `signer` and `sig` set. */
  sign(key: InfoHashKey, r: ProviderRecord): ProviderRecord;
  /**
   * As `sign`, with the Ed25519 computation on libuv's thread pool instead of the
   * event loop (node:crypto's callback form): ~50 µs per record here, which a busy
   * tracker endpoint would otherwise spend on its only JavaScript thread.
   */
  signAsync(key: InfoHashKey, r: ProviderRecord): Promise<ProviderRecord>;
}

/** A signer from an Ed25519 private key. */
export function createRecordSigner(privateKey: KeyObject, publicKeyRaw: Buffer): RecordSigner {
  const publicKey = publicKeyRaw.toString('latin1');
  return {
    publicKey,
    sign(key, r) {
      const sig = sign(null, canonicalRecord(key, r, publicKey), privateKey).toString('latin1');
      return { ...r, signer: publicKey, sig };
    },
    signAsync(key, r) {
      const data = canonicalRecord(key, r, publicKey);
      return new Promise((resolve, reject) => {
        sign(null, data, privateKey, (err, sig) => {
          if (err !== null) reject(err);
          else resolve({ ...r, signer: publicKey, sig: sig.toString('latin1') });
        });
      });
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
