import type { Provider } from '../../generated/btoverlay/v1/provider.js';
import { InvalidArgumentError } from '../errors.js';
import { leftNumber, parseAddr, peerIdString, type ProviderRecord } from '../store/record.js';

/**
 * Conversion between wire (generated protobuf) types and Store records. This is the
 * only place the two meet: nothing past the transport layer sees a wire type.
 */

/** Validates a wire Provider and converts it to a Store record (fields named with `prefix`). */
export function recordFromWire(p: Provider, prefix = 'provider'): ProviderRecord {
  parseAddr(p.addr, `${prefix}.addr`);
  const lastSeen = p.lastSeen;
  if (lastSeen < 0n || lastSeen > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new InvalidArgumentError(
      `${prefix}.last_seen`,
      `must be Unix milliseconds >= 0, got ${lastSeen}`,
    );
  }
  if (p.origin.length > 128) {
    throw new InvalidArgumentError(`${prefix}.origin`, `must be at most 128 characters`);
  }
  // Ed25519 (RFC 8032): 32-byte public keys, 64-byte signatures; both or neither.
  const signed = p.originKey.length > 0 || p.signature.length > 0;
  if (signed && (p.originKey.length !== 32 || p.signature.length !== 64)) {
    throw new InvalidArgumentError(
      `${prefix}.signature`,
      'a signed record needs a 32-byte origin_key and a 64-byte signature',
    );
  }
  return {
    addr: p.addr,
    peerId: peerIdString(p.peerId, `${prefix}.peer_id`),
    left: leftNumber(p.left, `${prefix}.left`),
    lastSeen: Number(lastSeen),
    origin: p.origin,
    removed: p.removed,
    signer: signed ? latin1(p.originKey) : undefined,
    sig: signed ? latin1(p.signature) : undefined,
  };
}

function latin1(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}

const EMPTY = Buffer.alloc(0);

/** Converts a Store record to the wire Provider. */
export function recordToWire(r: ProviderRecord): Provider {
  return {
    addr: r.addr,
    peerId: Buffer.from(r.peerId, 'latin1'),
    left: BigInt(r.left),
    lastSeen: BigInt(r.lastSeen),
    origin: r.origin,
    removed: r.removed,
    originKey: r.signer === undefined ? EMPTY : Buffer.from(r.signer, 'latin1'),
    signature: r.sig === undefined ? EMPTY : Buffer.from(r.sig, 'latin1'),
  };
}
