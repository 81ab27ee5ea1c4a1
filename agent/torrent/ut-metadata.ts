/**
 * BEP 9 `ut_metadata`: the info dictionary of a torrent exchanged between peers in 16 KiB
 * pieces over the BEP 10 extension protocol, so a magnet link (info hash only) becomes a
 * full torrent. Pure: the codec and an assembler with time as a parameter; the I/O lives
 * in `metadata-fetch.ts` (fetching) and `session.ts` (serving).
 *
 * A message is a bencoded dictionary, followed by the piece's bytes for `data`:
 *   request  {msg_type: 0, piece: i}
 *   data     {msg_type: 1, piece: i, total_size: n} <bytes>
 *   reject   {msg_type: 2, piece: i}
 */
import { createHash } from 'node:crypto';
import bencode, { type BValue } from 'bencode';
import { WireProtocolError } from './errors.js';
import { bencodedValueEnd } from './metainfo.js';

/** The extension's name in the BEP 10 handshake's `m` dictionary. */
export const UT_METADATA = 'ut_metadata';
/**
 * The BEP 10 message id we receive ut_metadata on (our choice; any 1..255 works, peers
 * address us with whatever our handshake's `m` says).
 */
export const UT_METADATA_LOCAL_ID = 3;
/** BEP 9: every piece is 16 KiB except the last. */
export const METADATA_PIECE_SIZE = 16 * 1024;
/**
 * Largest info dictionary we fetch or accept from a peer's `metadata_size`: 4 MiB holds
 * ~200 000 piece hashes (a 50 GiB torrent at 256 KiB pieces). Real torrents are far
 * smaller; the bound keeps a lying peer from making us allocate without limit.
 */
export const MAX_METADATA_SIZE = 4 * 1024 * 1024;
/** Largest ut_metadata message payload: a data piece plus a generous dictionary. */
export const MAX_METADATA_MESSAGE = METADATA_PIECE_SIZE + 1024;

/** BEP 9 message types. */
export const METADATA_MSG = { request: 0, data: 1, reject: 2 } as const;

/** A decoded ut_metadata message. `data` is a view into the payload (copy to keep it). */
export type MetadataMessage =
  | { type: 'request' | 'reject'; piece: number }
  | { type: 'data'; piece: number; totalSize: number; data: Buffer }
  /** BEP 9: unknown message types must be ignored (room for future ones). */
  | { type: 'unknown'; msgType: number };

/** Number of pieces of an info dictionary of `size` bytes. */
export const metadataPieceCount = (size: number): number => Math.ceil(size / METADATA_PIECE_SIZE);

/** Length of metadata piece `i` of a `size`-byte info dictionary. */
export function metadataPieceLength(size: number, i: number): number {
  return Math.min(METADATA_PIECE_SIZE, size - i * METADATA_PIECE_SIZE);
}

/** Encodes a request or reject. */
export function encodeMetadataRequest(type: 'request' | 'reject', piece: number): Buffer {
  return Buffer.from(bencode.encode({ msg_type: METADATA_MSG[type], piece }));
}

/** Encodes a data message: the dictionary followed by the piece's bytes. */
export function encodeMetadataData(piece: number, totalSize: number, data: Uint8Array): Buffer {
  const head = bencode.encode({ msg_type: METADATA_MSG.data, piece, total_size: totalSize });
  return Buffer.concat([head, data]);
}

type Dict = { [k: string]: BValue };
const isDict = (v: BValue): v is Dict =>
  typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && !Array.isArray(v);

function needInt(d: Dict, key: string): number {
  const v = d[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw new WireProtocolError(`ut_metadata message without a valid ${key}`);
  return v;
}

/** Decodes a ut_metadata payload. Throws WireProtocolError on malformed input. */
export function decodeMetadataMessage(payload: Buffer): MetadataMessage {
  if (payload.length > MAX_METADATA_MESSAGE)
    throw new WireProtocolError(`ut_metadata message of ${payload.length} bytes`);
  let end: number;
  let d: BValue;
  try {
    end = bencodedValueEnd(payload, 0);
    d = bencode.decode(payload.subarray(0, end));
  } catch (e) {
    throw new WireProtocolError(`ut_metadata message is not bencoded (${(e as Error).message})`);
  }
  if (!isDict(d)) throw new WireProtocolError('ut_metadata message is not a dictionary');
  const msgType = needInt(d, 'msg_type');
  switch (msgType) {
    case METADATA_MSG.request:
      return { type: 'request', piece: needInt(d, 'piece') };
    case METADATA_MSG.reject:
      return { type: 'reject', piece: needInt(d, 'piece') };
    case METADATA_MSG.data:
      return {
        type: 'data',
        piece: needInt(d, 'piece'),
        totalSize: needInt(d, 'total_size'),
        data: payload.subarray(end),
      };
    default:
      return { type: 'unknown', msgType };
  }
}

/** Why the assembler refused a data message (the peer broke the protocol). */
export type DataRefusal = 'total-size' | 'length';

/** The outcome of `verify` once every piece has arrived. */
export type VerifyResult =
  | { ok: true; info: Buffer }
  /**
   * The bytes do not hash to the info hash; every piece is dropped. `blame` is the peer
   * that sent all of it (to drop), or null when several did (the next attempt then takes
   * every piece from one peer, so a repeated failure is attributable).
   */
  | { ok: false; blame: number | null; senders: number[] };

/**
 * Collects an info dictionary's pieces from peers (identified by numbers) and verifies
 * that its SHA-1 is the info hash. Bounded: at most MAX_METADATA_SIZE bytes; one
 * outstanding request per piece (re-requested elsewhere after a reject, a timeout or
 * the peer leaving).
 */
export class MetadataAssembler {
  readonly pieceCount: number;
  private readonly pieces: (Buffer | null)[];
  private readonly senders: number[];
  /** Outstanding requests: piece → (peer, sent at). */
  private readonly requests = new Map<number, { peer: number; at: number }>();
  private have = 0;
  /** After a failure no single peer can be blamed for, one peer sends every piece. */
  private exclusive = false;
  private owner: number | null = null;

  /** Throws RangeError for a size outside 1..MAX_METADATA_SIZE (the caller counts it). */
  constructor(
    readonly infoHash: Buffer,
    readonly size: number,
  ) {
    if (!isAcceptableMetadataSize(size))
      throw new RangeError(`metadata size ${size} outside 1..${MAX_METADATA_SIZE}`);
    this.pieceCount = metadataPieceCount(size);
    this.pieces = new Array<Buffer | null>(this.pieceCount).fill(null);
    this.senders = new Array<number>(this.pieceCount).fill(-1);
  }

  /** Pieces received so far. */
  get received(): number {
    return this.have;
  }

  /** True when every piece is in (call `verify`). */
  get complete(): boolean {
    return this.have === this.pieceCount;
  }

  /** Requests outstanding at `peer`. */
  outstanding(peer: number): number {
    let n = 0;
    for (const r of this.requests.values()) if (r.peer === peer) n++;
    return n;
  }

  /** The next piece to request from `peer`, or null (nothing left, or another peer's turn). */
  next(peer: number, now: number): number | null {
    if (this.exclusive) {
      this.owner ??= peer;
      if (this.owner !== peer) return null;
    }
    for (let i = 0; i < this.pieceCount; i++) {
      if (this.pieces[i] !== null || this.requests.has(i)) continue;
      this.requests.set(i, { peer, at: now });
      return i;
    }
    return null;
  }

  /**
   * Stores a data message's piece. Returns null when stored (or when unsolicited: not
   * requested from this peer, ignored), or why it was refused.
   */
  receive(peer: number, piece: number, totalSize: number, data: Uint8Array): DataRefusal | null {
    if (totalSize !== this.size) return 'total-size';
    const r = this.requests.get(piece);
    if (r === undefined || r.peer !== peer) return null;
    if (data.length !== metadataPieceLength(this.size, piece)) return 'length';
    this.requests.delete(piece);
    this.pieces[piece] = Buffer.from(data);
    this.senders[piece] = peer;
    this.have++;
    return null;
  }

  /** A reject (or a request we gave up on): the piece goes back to the pool. */
  release(peer: number, piece: number): void {
    if (this.requests.get(piece)?.peer === peer) this.requests.delete(piece);
  }

  /** A peer left: its requests go back to the pool; an exclusive turn passes on. */
  peerGone(peer: number): void {
    for (const [piece, r] of this.requests) if (r.peer === peer) this.requests.delete(piece);
    if (this.owner === peer) this.owner = null;
  }

  /** Peers with a request older than `timeoutMs` (those requests are released). */
  expire(now: number, timeoutMs: number): number[] {
    const late = new Set<number>();
    for (const [piece, r] of this.requests)
      if (now - r.at > timeoutMs) {
        late.add(r.peer);
        this.requests.delete(piece);
      }
    return [...late];
  }

  /** Verifies the complete dictionary against the info hash (see VerifyResult). */
  verify(): VerifyResult {
    if (!this.complete) throw new Error('metadata is not complete');
    const info = Buffer.concat(this.pieces as Buffer[], this.size);
    if (createHash('sha1').update(info).digest().equals(this.infoHash)) return { ok: true, info };
    const senders = [...new Set(this.senders)];
    this.pieces.fill(null);
    this.senders.fill(-1);
    this.requests.clear();
    this.have = 0;
    const blame = senders.length === 1 ? senders[0]! : null;
    this.exclusive = blame === null;
    this.owner = null;
    return { ok: false, blame, senders };
  }
}

/** True for a `metadata_size` we are willing to fetch. */
export function isAcceptableMetadataSize(size: number): boolean {
  return Number.isSafeInteger(size) && size > 0 && size <= MAX_METADATA_SIZE;
}
