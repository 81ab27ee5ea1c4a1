import {
  ExchangeBatch,
  type ClusterAuth,
  type ClusterMessage,
} from '../../generated/btoverlay/v1/cluster.js';
import { InvalidArgumentError } from '../errors.js';
import type {
  AuthTag,
  ClusterAuthenticator,
  ClusterAuthRefusal,
  Direction,
} from '../security/cluster-auth.js';

/**
 * Keyed Exchange on the wire: the messages are serialized once into an
 * ExchangeBatch (`sealed`) and the MAC covers exactly those bytes, so nothing
 * depends on two protobuf encoders producing the same bytes.
 */

/** A sealed batch as the request/response fields carry it. */
export interface Sealed {
  readonly sealed: Buffer;
  readonly auth: ClusterAuth;
  /** The nonce, to bind the response to. */
  readonly nonce: Buffer;
}

function tagToWire(t: AuthTag): ClusterAuth {
  return { keyId: t.keyId, timestamp: BigInt(t.timestamp), nonce: t.nonce, mac: t.mac };
}

function tagFromWire(a: ClusterAuth | undefined): AuthTag | undefined {
  if (a === undefined) return undefined;
  const ts = a.timestamp;
  return {
    keyId: a.keyId,
    timestamp:
      ts >= BigInt(Number.MIN_SAFE_INTEGER) && ts <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(ts)
        : Number.NaN,
    nonce: Buffer.from(a.nonce),
    mac: Buffer.from(a.mac),
  };
}

/** Serializes and authenticates messages. */
export function sealBatch(
  auth: ClusterAuthenticator,
  direction: Direction,
  messages: ClusterMessage[],
  now: number,
  requestNonce?: Buffer,
): Sealed {
  const sealed = Buffer.from(ExchangeBatch.encode({ messages }).finish());
  const tag = auth.seal(direction, sealed, now, requestNonce);
  return { sealed, auth: tagToWire(tag), nonce: tag.nonce };
}

/** Verifies and decodes a sealed batch; returns the messages or the refusal reason. */
export function openBatch(
  auth: ClusterAuthenticator,
  direction: Direction,
  sealed: Uint8Array,
  wireAuth: ClusterAuth | undefined,
  now: number,
  requestNonce?: Buffer,
): { messages: ClusterMessage[]; nonce: Buffer } | { refused: ClusterAuthRefusal } {
  const tag = tagFromWire(wireAuth);
  const verdict = auth.open(direction, tag, sealed, now, requestNonce);
  if (verdict !== 'ok') return { refused: verdict };
  let messages: ClusterMessage[];
  try {
    messages = ExchangeBatch.decode(sealed).messages;
  } catch {
    // Authentic but undecodable: a bug or a newer peer, not an attack.
    throw new InvalidArgumentError('sealed', 'not a serialized ExchangeBatch');
  }
  return { messages, nonce: tag!.nonce };
}
