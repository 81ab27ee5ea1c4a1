/**
 * The BEP 10 extension-protocol handshake (extended message id 0): a bencoded dictionary
 * whose `m` maps extension names to the message ids the SENDER wants to receive them on.
 * Pure codec: the session and the metadata fetcher decide what to do with it.
 */
import bencode, { type BValue } from 'bencode';
import { WireProtocolError } from './errors.js';

/** What we read from a peer's extended handshake; absent or malformed keys are null. */
export interface ExtendedHandshake {
  /** Extension name → the id the peer receives it on (1..255; 0 = disabled, dropped). */
  readonly m: ReadonlyMap<string, number>;
  /** BEP 9: the size of the info dictionary in bytes, when the peer has it. */
  readonly metadataSize: number | null;
  /** The peer's request queue bound. */
  readonly reqq: number | null;
  /** The peer's listen port. */
  readonly port: number | null;
  /** Client name and version. */
  readonly client: string | null;
}

/** What we put in our extended handshake. */
export interface OwnExtendedHandshake {
  /** Extensions we support → the id we want to receive each on. */
  readonly m: Readonly<Record<string, number>>;
  readonly metadataSize?: number;
  readonly reqq?: number;
  readonly port?: number;
  readonly client?: string;
}

type Dict = { [k: string]: BValue };
const isDict = (v: BValue | undefined): v is Dict =>
  typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && !Array.isArray(v);
const int = (v: BValue | undefined, min: number, max: number): number | null =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max ? v : null;

/** Encodes our extended handshake payload (without the message header). */
export function encodeExtendedHandshake(h: OwnExtendedHandshake): Buffer {
  const d: Record<string, unknown> = { m: h.m };
  if (h.metadataSize !== undefined) d['metadata_size'] = h.metadataSize;
  if (h.reqq !== undefined) d['reqq'] = h.reqq;
  if (h.port) d['p'] = h.port;
  if (h.client !== undefined) d['v'] = h.client;
  return Buffer.from(bencode.encode(d));
}

/**
 * Decodes a peer's extended handshake. Throws WireProtocolError when it is not bencoded;
 * a bencoded non-dictionary or unknown keys are tolerated (BEP 10: ignore what you do not
 * understand).
 */
export function decodeExtendedHandshake(payload: Uint8Array): ExtendedHandshake {
  let d: BValue;
  try {
    d = bencode.decode(payload);
  } catch {
    throw new WireProtocolError('extended handshake is not bencoded');
  }
  const m = new Map<string, number>();
  if (!isDict(d)) return { m, metadataSize: null, reqq: null, port: null, client: null };
  const md = d['m'];
  if (isDict(md))
    for (const [k, v] of Object.entries(md)) {
      const id = int(v, 1, 255);
      if (id !== null) m.set(k, id);
    }
  const v = d['v'];
  return {
    m,
    metadataSize: int(d['metadata_size'], 1, Number.MAX_SAFE_INTEGER),
    reqq: int(d['reqq'], 1, Number.MAX_SAFE_INTEGER),
    port: int(d['p'], 1, 65535),
    client: v instanceof Uint8Array ? Buffer.from(v).toString('utf8').slice(0, 100) : null,
  };
}
