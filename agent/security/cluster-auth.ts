import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ClusterKeyring } from './cluster-key.js';
import { ReplayGuard } from './replay.js';

/**
 * Authentication of agent-to-agent Exchange calls (cluster.proto
 * `ClusterAuth`): HMAC-SHA256 (RFC 2104) over the exact serialized bytes of
 * the batch, with a key id (rotation), the sender's timestamp and a random
 * nonce (replay). A response is bound to its request's nonce, so an old
 * response cannot answer a new request and a request cannot pose as a response.
 */

/** Domain-separation tag: these MACs mean nothing in any other protocol. */
const TAG = Buffer.from('btoverlay-cluster-v1\0', 'latin1');
/** Nonce length, bytes (128 bits: collisions are not a concern). */
export const NONCE_BYTES = 16;
/** HMAC-SHA256 output, bytes. */
export const MAC_BYTES = 32;

/** Which way a sealed batch travels. */
export type Direction = 'request' | 'response';

/** Why an Exchange was refused (counted as `cluster_auth.<reason>`). */
export type ClusterAuthRefusal =
  'missing' | 'unknown_key' | 'bad_mac' | 'stale' | 'replayed' | 'not_keyed';

/** Every refusal reason, for counters. */
export const CLUSTER_AUTH_REFUSALS: readonly ClusterAuthRefusal[] = [
  'missing',
  'unknown_key',
  'bad_mac',
  'stale',
  'replayed',
  'not_keyed',
];

/** The authentication fields of one sealed batch (wire `ClusterAuth`). */
export interface AuthTag {
  readonly keyId: string;
  /** Sender's clock, Unix ms. */
  readonly timestamp: number;
  readonly nonce: Buffer;
  readonly mac: Buffer;
}

/** Options of an authenticator. */
export interface ClusterAuthOptions {
  /** A timestamp further than this from the receiver's clock is refused, ms. */
  readonly windowMs: number;
  /** Request nonces remembered for replay detection. */
  readonly maxNonces: number;
}

/** Defaults: 30 s either way (agents are expected to run NTP), 100 000 nonces. */
export const DEFAULT_CLUSTER_AUTH_OPTIONS: ClusterAuthOptions = {
  windowMs: 30_000,
  maxNonces: 100_000,
};

function mac(
  key: Buffer,
  direction: Direction,
  keyId: string,
  timestamp: number,
  nonce: Buffer,
  requestNonce: Buffer | undefined,
  payload: Uint8Array,
): Buffer {
  const head = Buffer.alloc(1 + 8);
  head[0] = direction === 'request' ? 1 : 2;
  head.writeBigInt64BE(BigInt(timestamp), 1);
  const h = createHmac('sha256', key);
  h.update(TAG);
  h.update(head.subarray(0, 1));
  // The key id is fixed-length hex; timestamp, nonce and request nonce too, so
  // the concatenation is unambiguous without length prefixes.
  h.update(Buffer.from(keyId.padEnd(16, '\0').slice(0, 16), 'latin1'));
  h.update(head.subarray(1));
  h.update(nonce);
  if (direction === 'response') h.update(requestNonce ?? Buffer.alloc(NONCE_BYTES));
  h.update(payload);
  return h.digest();
}

/** Seals and opens Exchange batches with one agent's keyring. */
export class ClusterAuthenticator {
  private readonly replay: ReplayGuard;

  constructor(
    private readonly keys: ClusterKeyring,
    options: ClusterAuthOptions = DEFAULT_CLUSTER_AUTH_OPTIONS,
  ) {
    this.replay = new ReplayGuard(options.windowMs, options.maxNonces);
  }

  /** Authenticates `payload` (the serialized batch) with the primary key. */
  seal(
    direction: Direction,
    payload: Uint8Array,
    now: number,
    requestNonce?: Buffer,
    nonce: Buffer = randomBytes(NONCE_BYTES),
  ): AuthTag {
    const k = this.keys.primary;
    return {
      keyId: k.id,
      timestamp: now,
      nonce,
      mac: mac(k.macKey, direction, k.id, now, nonce, requestNonce, payload),
    };
  }

  /**
   * Checks the tag of a received batch. Requests are also checked for replay
   * (timestamp window and nonce); a response must answer `requestNonce`.
   */
  open(
    direction: Direction,
    tag: AuthTag | undefined,
    payload: Uint8Array,
    now: number,
    requestNonce?: Buffer,
  ): 'ok' | ClusterAuthRefusal {
    if (tag === undefined || tag.mac.length === 0) return 'missing';
    const k = this.keys.byId.get(tag.keyId);
    if (k === undefined) return 'unknown_key';
    if (tag.nonce.length !== NONCE_BYTES || tag.mac.length !== MAC_BYTES) return 'bad_mac';
    if (!Number.isSafeInteger(tag.timestamp)) return 'stale';
    const want = mac(k.macKey, direction, k.id, tag.timestamp, tag.nonce, requestNonce, payload);
    if (!timingSafeEqual(want, tag.mac)) return 'bad_mac';
    // Only after the MAC: an attacker must not be able to fill the nonce table.
    if (direction === 'request')
      return this.replay.check(tag.nonce.toString('hex'), tag.timestamp, now);
    return 'ok';
  }
}
