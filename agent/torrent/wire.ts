/**
 * Peer-wire codec: BEP 3 handshake and messages, BEP 6 fast extension, BEP 10 extended
 * messages. Pure: encoders return Buffers, `WireParser` turns a byte stream into messages
 * with a hard cap on message length so a hostile peer cannot make us buffer without bound.
 */
import { WireProtocolError } from './errors.js';

const PSTR = Buffer.from('BitTorrent protocol', 'latin1');
/** Handshake length: 1 + 19 + 8 reserved + 20 info hash + 20 peer id (BEP 3). */
export const HANDSHAKE_LENGTH = 68;

/** Message ids (BEP 3, BEP 6, BEP 10). */
export const MSG = {
  choke: 0,
  unchoke: 1,
  interested: 2,
  notInterested: 3,
  have: 4,
  bitfield: 5,
  request: 6,
  piece: 7,
  cancel: 8,
  port: 9, // BEP 5 (DHT); parsed and ignored
  suggest: 13, // BEP 6
  haveAll: 14, // BEP 6
  haveNone: 15, // BEP 6
  reject: 16, // BEP 6
  allowedFast: 17, // BEP 6
  extended: 20, // BEP 10
} as const;

/** Reserved-bit flags we use. */
export interface Reserved {
  /** BEP 6: reserved[7] & 0x04. */
  fast: boolean;
  /** BEP 10: reserved[5] & 0x10. */
  extended: boolean;
}

export interface Handshake extends Reserved {
  infoHash: Buffer;
  peerId: Buffer;
}

/** A decoded message. `piece.block` is a view into the parser's input (copy it to keep it). */
export type WireMessage =
  | { type: 'keepAlive' }
  | { type: 'choke' | 'unchoke' | 'interested' | 'notInterested' | 'haveAll' | 'haveNone' }
  | { type: 'have' | 'allowedFast' | 'suggest'; index: number }
  | { type: 'bitfield'; bits: Buffer }
  | { type: 'request' | 'cancel' | 'reject'; index: number; begin: number; length: number }
  | { type: 'piece'; index: number; begin: number; block: Buffer }
  | { type: 'port'; port: number }
  | { type: 'extended'; id: number; payload: Buffer }
  | { type: 'unknown'; id: number };

export function encodeHandshake(infoHash: Uint8Array, peerId: Uint8Array, r: Reserved): Buffer {
  const b = Buffer.alloc(HANDSHAKE_LENGTH);
  b[0] = 19;
  PSTR.copy(b, 1);
  if (r.extended) b[20 + 5] = 0x10;
  if (r.fast) b[20 + 7] = 0x04;
  b.set(infoHash, 28);
  b.set(peerId, 48);
  return b;
}

function header(len: number, id: number, extra = 0): Buffer {
  const b = Buffer.allocUnsafe(5 + extra);
  b.writeUInt32BE(len, 0);
  b[4] = id;
  return b;
}

export const encodeKeepAlive = (): Buffer => Buffer.alloc(4);
/** Messages without payload: choke, unchoke, interested, not interested, have all, have none. */
export const encodeSimple = (id: number): Buffer => header(1, id);

export function encodeIndex(id: number, index: number): Buffer {
  const b = header(5, id, 4);
  b.writeUInt32BE(index, 5);
  return b;
}

export function encodeBitfield(bits: Uint8Array): Buffer {
  const b = header(1 + bits.length, MSG.bitfield, bits.length);
  b.set(bits, 5);
  return b;
}

/** Request, cancel or reject (same layout). */
export function encodeBlockRef(id: number, index: number, begin: number, length: number): Buffer {
  const b = header(13, id, 12);
  b.writeUInt32BE(index, 5);
  b.writeUInt32BE(begin, 9);
  b.writeUInt32BE(length, 13);
  return b;
}

/** Writes a request into `out` at `pos` (17 bytes) so many requests go out in one write. */
export function writeRequest(
  out: Buffer,
  pos: number,
  index: number,
  begin: number,
  length: number,
): number {
  out.writeUInt32BE(13, pos);
  out[pos + 4] = MSG.request;
  out.writeUInt32BE(index, pos + 5);
  out.writeUInt32BE(begin, pos + 9);
  out.writeUInt32BE(length, pos + 13);
  return pos + 17;
}

/** Header of a piece message; the block follows in a separate write (no copy). */
export function encodePieceHeader(index: number, begin: number, blockLength: number): Buffer {
  const b = header(9 + blockLength, MSG.piece, 8);
  b.writeUInt32BE(index, 5);
  b.writeUInt32BE(begin, 9);
  return b;
}

export function encodeExtended(id: number, payload: Uint8Array): Buffer {
  const b = header(2 + payload.length, MSG.extended, 1 + payload.length);
  b[5] = id;
  b.set(payload, 6);
  return b;
}

/**
 * What to do with a peer's handshake for our torrent: `self` when it is our own peer id
 * (a tracker or the overlay listed our address), `banned` for a peer id banned earlier.
 * Throws WireProtocolError when it is for another torrent.
 */
export function checkHandshake(
  h: Handshake,
  infoHash: Buffer,
  ownPeerId: Buffer,
  bannedIds: ReadonlySet<string>,
): 'ok' | 'self' | 'banned' {
  if (!h.infoHash.equals(infoHash)) throw new WireProtocolError('handshake for another torrent');
  if (h.peerId.equals(ownPeerId)) return 'self';
  return bannedIds.has(h.peerId.toString('hex')) ? 'banned' : 'ok';
}

/** Parses a 68-byte handshake. */
export function decodeHandshake(b: Buffer): Handshake {
  if (b[0] !== 19 || !b.subarray(1, 20).equals(PSTR))
    throw new WireProtocolError('bad handshake protocol string');
  return {
    extended: (b[25]! & 0x10) !== 0,
    fast: (b[27]! & 0x04) !== 0,
    infoHash: Buffer.from(b.subarray(28, 48)),
    peerId: Buffer.from(b.subarray(48, 68)),
  };
}

function fixed(len: number, want: number, name: string): void {
  if (len !== want)
    throw new WireProtocolError(`${name} message with length ${len}, expected ${want}`);
}

/** Decodes one message body (without the 4-byte length prefix). */
export function decodeMessage(body: Buffer): WireMessage {
  if (body.length === 0) return { type: 'keepAlive' };
  const id = body[0]!;
  const n = body.length;
  switch (id) {
    case MSG.choke:
      return (fixed(n, 1, 'choke'), { type: 'choke' });
    case MSG.unchoke:
      return (fixed(n, 1, 'unchoke'), { type: 'unchoke' });
    case MSG.interested:
      return (fixed(n, 1, 'interested'), { type: 'interested' });
    case MSG.notInterested:
      return (fixed(n, 1, 'not interested'), { type: 'notInterested' });
    case MSG.haveAll:
      return (fixed(n, 1, 'have all'), { type: 'haveAll' });
    case MSG.haveNone:
      return (fixed(n, 1, 'have none'), { type: 'haveNone' });
    case MSG.have:
      return (fixed(n, 5, 'have'), { type: 'have', index: body.readUInt32BE(1) });
    case MSG.allowedFast:
      return (fixed(n, 5, 'allowed fast'), { type: 'allowedFast', index: body.readUInt32BE(1) });
    case MSG.suggest:
      return (fixed(n, 5, 'suggest'), { type: 'suggest', index: body.readUInt32BE(1) });
    case MSG.bitfield:
      return { type: 'bitfield', bits: body.subarray(1) };
    case MSG.request:
    case MSG.cancel:
    case MSG.reject: {
      fixed(n, 13, 'request/cancel/reject');
      const type = id === MSG.request ? 'request' : id === MSG.cancel ? 'cancel' : 'reject';
      return {
        type,
        index: body.readUInt32BE(1),
        begin: body.readUInt32BE(5),
        length: body.readUInt32BE(9),
      };
    }
    case MSG.piece:
      if (n < 9) throw new WireProtocolError(`piece message too short (${n})`);
      return {
        type: 'piece',
        index: body.readUInt32BE(1),
        begin: body.readUInt32BE(5),
        block: body.subarray(9),
      };
    case MSG.port:
      return (fixed(n, 3, 'port'), { type: 'port', port: body.readUInt16BE(1) });
    case MSG.extended:
      if (n < 2) throw new WireProtocolError('extended message without id');
      return { type: 'extended', id: body[1]!, payload: body.subarray(2) };
    default:
      return { type: 'unknown', id };
  }
}

/**
 * Streaming parser: feed socket chunks with `push`; it calls `onHandshake` once (if
 * `expectHandshake`) and then `onMessage` per message. Messages wholly inside one chunk
 * are views into it (no copy). Throws WireProtocolError on violations; the caller closes.
 */
/**
 * Receives a piece message's block as a range of a buffer the parser holds, valid only
 * during the call: the hot path (every 16 KiB of a download) makes no object or view.
 */
export type PieceBlockHandler = (
  index: number,
  begin: number,
  src: Buffer,
  start: number,
  length: number,
) => void;

export class WireParser {
  /** When set, piece messages wholly inside one chunk go here instead of `onMessage`. */
  onPieceBlock: PieceBlockHandler | null = null;
  private chunks: Buffer[] = [];
  private head = 0;
  private buffered = 0;
  private needHandshake: boolean;

  constructor(
    /** Hard cap on a message's length prefix. */
    readonly maxMessageLength: number,
    private readonly onMessage: (m: WireMessage) => void,
    private readonly onHandshake: (h: Handshake) => void = () => undefined,
    expectHandshake = true,
  ) {
    this.needHandshake = expectHandshake;
  }

  /** Bytes received but not yet parsed. */
  get pending(): number {
    return this.buffered;
  }

  /**
   * Parses `chunk`. With `transient` the caller reuses the chunk's memory after this call
   * (a socket's shared read buffer): callbacks see views into it only while they run, and
   * any unparsed tail (a partial message) is copied out before returning.
   */
  push(chunk: Buffer, transient = false): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    this.parse();
    if (transient && this.buffered > 0) this.detachLast();
  }

  /** Copies the unparsed part of the newest chunk into memory the parser owns. */
  private detachLast(): void {
    const last = this.chunks.length - 1;
    const c = this.chunks[last]!;
    const start = last === 0 ? this.head : 0;
    this.chunks[last] = Buffer.from(c.subarray(start));
    if (last === 0) this.head = 0;
  }

  private parse(): void {
    if (this.needHandshake) {
      if (this.buffered < HANDSHAKE_LENGTH) {
        if (this.peekByte(0) !== 19) throw new WireProtocolError('bad handshake protocol string');
        return;
      }
      const h = decodeHandshake(this.take(HANDSHAKE_LENGTH));
      this.needHandshake = false;
      this.onHandshake(h);
    }
    while (this.buffered >= 4) {
      const len = this.peekUInt32();
      if (len > this.maxMessageLength)
        throw new WireProtocolError(`message length ${len} exceeds limit ${this.maxMessageLength}`);
      if (this.buffered < 4 + len) break;
      const c = this.chunks[0]!;
      const h = this.head;
      if (
        this.onPieceBlock !== null &&
        len >= 9 &&
        c.length - h >= 4 + len &&
        c[h + 4] === MSG.piece
      ) {
        this.buffered -= 4 + len;
        this.head = h + 4 + len;
        if (this.head === c.length) {
          this.chunks.shift();
          this.head = 0;
        }
        this.onPieceBlock(c.readUInt32BE(h + 5), c.readUInt32BE(h + 9), c, h + 13, len - 9);
        continue;
      }
      this.skip(4);
      const body = len === 0 ? EMPTY : this.take(len);
      this.onMessage(decodeMessage(body));
    }
  }

  private peekByte(i: number): number {
    return this.chunks[0]![this.head + i]!;
  }

  private peekUInt32(): number {
    const c = this.chunks[0]!;
    if (c.length - this.head >= 4) return c.readUInt32BE(this.head);
    let v = 0;
    let ci = 0;
    let off = this.head;
    for (let k = 0; k < 4; k++) {
      while (off >= this.chunks[ci]!.length) {
        ci++;
        off = 0;
      }
      v = v * 256 + this.chunks[ci]![off++]!;
    }
    return v;
  }

  /** Drops n buffered bytes without making a view of them (once per message). */
  private skip(n: number): void {
    this.buffered -= n;
    while (n > 0) {
      const c = this.chunks[0]!;
      const k = Math.min(n, c.length - this.head);
      this.head += k;
      n -= k;
      if (this.head === c.length) {
        this.chunks.shift();
        this.head = 0;
      }
    }
  }

  private take(n: number): Buffer {
    const c = this.chunks[0]!;
    const avail = c.length - this.head;
    this.buffered -= n;
    if (avail >= n) {
      const out = c.subarray(this.head, this.head + n);
      this.head += n;
      if (this.head === c.length) {
        this.chunks.shift();
        this.head = 0;
      }
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const cur = this.chunks[0]!;
      const k = Math.min(n - filled, cur.length - this.head);
      cur.copy(out, filled, this.head, this.head + k);
      filled += k;
      this.head += k;
      if (this.head === cur.length) {
        this.chunks.shift();
        this.head = 0;
      }
    }
    return out;
  }
}

const EMPTY = Buffer.alloc(0);
