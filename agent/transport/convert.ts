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
  return {
    addr: p.addr,
    peerId: peerIdString(p.peerId, `${prefix}.peer_id`),
    left: leftNumber(p.left, `${prefix}.left`),
    lastSeen: Number(lastSeen),
    origin: p.origin,
    removed: p.removed,
  };
}

/** Converts a Store record to the wire Provider. */
export function recordToWire(r: ProviderRecord): Provider {
  return {
    addr: r.addr,
    peerId: Buffer.from(r.peerId, 'latin1'),
    left: BigInt(r.left),
    lastSeen: BigInt(r.lastSeen),
    origin: r.origin,
    removed: r.removed,
  };
}
