/**
 * One peer connection: socket, streaming parser, send helpers and the per-peer state the
 * session reads. Protocol decisions live in `session.ts`; this class only moves bytes.
 */
import type { Socket } from 'node:net';
import { Bitfield } from './bitfield.js';
import { BLOCK_SIZE } from './layout.js';
import type { PeerAddr } from './peer-source.js';
import {
  MSG,
  WireParser,
  encodeBitfield,
  encodeBlockRef,
  encodeExtended,
  encodeHandshake,
  encodeIndex,
  encodeKeepAlive,
  encodePieceHeader,
  encodeSimple,
  writeRequest,
  type Handshake,
  type WireMessage,
} from './wire.js';
import type { BlockRef } from './picker.js';

/** A queued upload request. */
export interface UploadRequest {
  index: number;
  begin: number;
  length: number;
}

export class PeerConnection {
  /** Remote handshake, once received. */
  handshake: Handshake | null = null;
  fast = false;
  extended = false;
  amChoking = true;
  amInterested = false;
  peerChoking = true;
  peerInterested = false;
  /** Peer's pieces; `seed` short-cuts BEP 6 have-all. */
  bits: Bitfield;
  seed = false;
  /** Outstanding requests we sent: block key → send time (ms). */
  readonly outstanding = new Map<number, number>();
  /** Target number of outstanding requests; adapts to the peer's rate. */
  depth: number;
  /** The peer's advertised request queue bound (BEP 10 `reqq`). */
  reqq = 250;
  /** The BEP 10 id the peer receives `ut_metadata` on (BEP 9); 0 = it does not. */
  utMetadata = 0;
  /** BEP 9 metadata pieces we sent it (bounded per connection). */
  metadataServed = 0;
  /** Pieces the peer lets us request while choked (BEP 6). */
  readonly allowedFast = new Set<number>();
  readonly uploadQueue: UploadRequest[] = [];
  uploading = false;
  /** Payload bytes, cumulative and since the last tick. */
  downloaded = 0;
  uploaded = 0;
  tickDown = 0;
  tickUp = 0;
  downRate = 0;
  upRate = 0;
  lastReceiveAt: number;
  lastBlockAt: number;
  lastSendAt: number;
  /** Pieces that failed their hash check with this peer as sole sender. */
  strikes = 0;
  snubbed = false;
  closed = false;
  readonly parser: WireParser;

  constructor(
    readonly id: number,
    readonly socket: Socket,
    readonly addr: PeerAddr,
    readonly outgoing: boolean,
    pieceCount: number,
    maxMessageLength: number,
    onMessage: (m: WireMessage) => void,
    onHandshake: (h: Handshake) => void,
    now: number,
    initialDepth: number,
  ) {
    this.bits = new Bitfield(pieceCount);
    this.parser = new WireParser(maxMessageLength, onMessage, onHandshake);
    this.lastReceiveAt = this.lastBlockAt = this.lastSendAt = now;
    this.depth = initialDepth;
  }

  get key(): string {
    return `${this.addr.host}:${this.addr.port}`;
  }

  has(i: number): boolean {
    return this.seed || this.bits.has(i);
  }

  private write(b: Buffer): void {
    if (this.closed) return;
    this.socket.write(b);
  }

  sendHandshake(infoHash: Buffer, peerId: Buffer): void {
    this.write(encodeHandshake(infoHash, peerId, { fast: true, extended: true }));
  }
  sendSimple(id: number): void {
    this.write(encodeSimple(id));
  }
  sendHave(i: number): void {
    this.write(encodeIndex(MSG.have, i));
  }
  sendBitfield(bits: Uint8Array): void {
    this.write(encodeBitfield(bits));
  }
  sendExtended(id: number, payload: Uint8Array): void {
    this.write(encodeExtended(id, payload));
  }
  sendKeepAlive(): void {
    this.write(encodeKeepAlive());
  }
  sendCancel(r: { piece: number; begin: number; length: number }): void {
    this.write(encodeBlockRef(MSG.cancel, r.piece, r.begin, r.length));
  }
  sendReject(r: UploadRequest): void {
    this.write(encodeBlockRef(MSG.reject, r.index, r.begin, r.length));
  }

  /** Sends many requests in one write (one syscall for hundreds of requests). */
  sendRequests(
    blocks: readonly BlockRef[],
    blockKey: (p: number, b: number) => number,
    now: number,
  ): void {
    if (blocks.length === 0) return;
    const out = Buffer.allocUnsafe(17 * blocks.length);
    let pos = 0;
    for (const b of blocks) {
      pos = writeRequest(out, pos, b.piece, b.begin, b.length);
      this.outstanding.set(blockKey(b.piece, b.block), now);
    }
    this.write(out);
  }

  /** Sends a piece message: header and block as two writes, corked (no copy of the block). */
  sendPiece(index: number, begin: number, block: Buffer): void {
    if (this.closed) return;
    this.socket.cork();
    this.socket.write(encodePieceHeader(index, begin, block.length));
    this.socket.write(block);
    process.nextTick(() => this.socket.uncork());
    this.uploaded += block.length;
    this.tickUp += block.length;
  }

  /** Bytes queued in the socket not yet handed to the kernel. */
  get writeBacklog(): number {
    return this.socket.writableLength;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
  }
}

/** Key of a block for maps: piece * blocksPerPiece + block. */
export function makeBlockKey(blocksPerPiece: number): (piece: number, block: number) => number {
  return (piece, block) => piece * blocksPerPiece + block;
}

export { BLOCK_SIZE };
