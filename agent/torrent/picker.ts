/**
 * Piece picker. Pure: no I/O, no clock; randomness is injected.
 *
 * Policy (BEP 3 "rarest first" plus the usual refinements):
 * - the first few pieces are picked at random, so a new peer quickly has something to trade;
 * - then rarest first, ties broken randomly;
 * - a peer keeps working on the pieces it started (so one sender per piece, which makes
 *   hash-failure blame exact); it may help with others' pieces when nothing else is left;
 * - a piece that failed its hash check is re-fetched "exclusively" from a single peer;
 * - end game: when every missing block is requested, idle peers may request blocks already
 *   requested elsewhere (bounded duplicates); the session cancels the losers.
 */
import { Bitfield } from './bitfield.js';
import { BLOCK_SIZE, blockCount } from './layout.js';

/** What the picker needs to know about a peer. */
export interface PickerPeer {
  readonly id: number;
  /** True when the peer has (or, while choked, is allowed-fast for) the piece. */
  has(piece: number): boolean;
  /** True when this peer already has an outstanding request for the block (end game). */
  requested(piece: number, block: number): boolean;
}

/** A block to request. */
export interface BlockRef {
  piece: number;
  block: number;
  begin: number;
  length: number;
}

export interface PickerOptions {
  pieceCount: number;
  pieceLength: number;
  totalLength: number;
  /** Uniform in [0, 1). */
  random: () => number;
  /** Bound on pieces in progress at once (each holds a piece buffer in the session). */
  maxPartial?: number;
  /** Pieces picked at random before switching to rarest first. */
  randomFirst?: number;
  /** Max outstanding requests for the same block in end game. */
  endGameDuplicates?: number;
}

/** Result of `blockReceived`. */
export const Received = {
  /** Not wanted (unknown piece, already received); drop the data. */
  Unwanted: 0,
  Accepted: 1,
  /** Accepted, and every block of the piece is now here: verify it. */
  PieceComplete: 2,
} as const;
export type Received = (typeof Received)[keyof typeof Received];

interface Partial {
  readonly piece: number;
  readonly blocks: number;
  readonly requests: Uint8Array;
  readonly received: Uint8Array;
  readonly senders: Int32Array;
  receivedCount: number;
  /** Peer that works on this piece; -1 when it left. */
  owner: number;
  /** Only the owner may request blocks (after a hash failure). */
  exclusive: boolean;
  /** All blocks below this index are requested or received. */
  hint: number;
}

export class PiecePicker {
  readonly have: Bitfield;
  readonly pieceCount: number;
  private readonly pieceLength: number;
  private readonly totalLength: number;
  private readonly random: () => number;
  private readonly maxPartial: number;
  private readonly randomFirst: number;
  private readonly endGameDuplicates: number;
  private readonly availability: Uint16Array;
  private seeds = 0;
  private readonly partials = new Map<number, Partial>();
  private readonly failed = new Set<number>();
  private order: Int32Array = new Int32Array(0);
  private orderDirty = true;
  private cursor = 0;
  private picksSinceOrder = 0;

  constructor(o: PickerOptions) {
    this.pieceCount = o.pieceCount;
    this.pieceLength = o.pieceLength;
    this.totalLength = o.totalLength;
    this.random = o.random;
    this.maxPartial = o.maxPartial ?? 256;
    this.randomFirst = o.randomFirst ?? 4;
    this.endGameDuplicates = o.endGameDuplicates ?? 2;
    this.have = new Bitfield(o.pieceCount);
    this.availability = new Uint16Array(o.pieceCount);
  }

  /** Size in bytes of piece i. */
  pieceSize(i: number): number {
    return i === this.pieceCount - 1
      ? this.totalLength - this.pieceLength * (this.pieceCount - 1)
      : this.pieceLength;
  }

  get complete(): boolean {
    return this.have.full;
  }

  /** Pieces in progress (some blocks requested or received). */
  get inProgress(): number {
    return this.partials.size;
  }

  // ---- availability -------------------------------------------------------------------

  addSeed(): void {
    this.seeds++;
  }
  removeSeed(): void {
    this.seeds--;
  }
  addHave(i: number): void {
    if (i >= 0 && i < this.pieceCount) {
      this.availability[i]!++;
      this.orderDirty = true;
    }
  }
  removeHave(i: number): void {
    if (i >= 0 && i < this.pieceCount && this.availability[i]! > 0) {
      this.availability[i]!--;
      this.orderDirty = true;
    }
  }
  addBitfield(b: Bitfield): void {
    for (let i = 0; i < this.pieceCount; i++) if (b.has(i)) this.availability[i]!++;
    this.orderDirty = true;
  }
  removeBitfield(b: Bitfield): void {
    for (let i = 0; i < this.pieceCount; i++)
      if (b.has(i) && this.availability[i]! > 0) this.availability[i]!--;
    this.orderDirty = true;
  }

  /** Copies of piece i among connected peers. */
  availabilityOf(i: number): number {
    return this.availability[i]! + this.seeds;
  }

  /** True when `has` covers a piece we still need. */
  wants(has: (i: number) => boolean): boolean {
    for (let i = 0; i < this.pieceCount; i++) if (!this.have.has(i) && has(i)) return true;
    return false;
  }

  // ---- picking ------------------------------------------------------------------------

  /** Picks up to `max` blocks for `peer` to request. */
  pick(peer: PickerPeer, max: number): BlockRef[] {
    const out: BlockRef[] = [];
    if (max <= 0 || this.have.full) return out;
    // 1. continue pieces this peer owns (or orphaned exclusive ones).
    for (const p of this.partials.values()) {
      if (out.length >= max) return out;
      if ((p.owner === peer.id || (p.owner === -1 && p.exclusive)) && peer.has(p.piece)) {
        if (p.owner === -1) p.owner = peer.id;
        this.takeUnrequested(p, out, max);
      }
    }
    // 2. start new pieces.
    while (out.length < max && this.partials.size < this.maxPartial) {
      const piece = this.nextNewPiece(peer);
      if (piece < 0) break;
      const p = this.startPiece(piece, peer.id);
      this.takeUnrequested(p, out, max);
    }
    // 3. help with pieces other peers started.
    for (const p of this.partials.values()) {
      if (out.length >= max) return out;
      if (!p.exclusive && p.owner !== peer.id && peer.has(p.piece))
        this.takeUnrequested(p, out, max);
    }
    // 4. end game: everything missing is requested; duplicate requests (bounded).
    if (out.length < max && this.inEndGame()) {
      // Blocks picked above in this call are not yet in the peer's outstanding set.
      const mine = new Set(out.map((r) => r.piece * 65536 + r.block));
      for (const p of this.partials.values()) {
        if (p.exclusive && p.owner !== peer.id) continue;
        if (!peer.has(p.piece)) continue;
        for (let b = 0; b < p.blocks && out.length < max; b++) {
          if (
            p.received[b] ||
            p.requests[b]! >= this.endGameDuplicates ||
            peer.requested(p.piece, b) ||
            mine.has(p.piece * 65536 + b)
          )
            continue;
          p.requests[b]!++;
          out.push(this.ref(p.piece, b));
        }
        if (out.length >= max) break;
      }
    }
    return out;
  }

  /** True when no missing block is unrequested. */
  inEndGame(): boolean {
    if (this.have.count + this.partials.size < this.pieceCount) return false;
    for (const p of this.partials.values())
      if (p.hint < p.blocks && this.firstUnrequested(p) < p.blocks) return false;
    return true;
  }

  private ref(piece: number, block: number): BlockRef {
    const begin = block * BLOCK_SIZE;
    return { piece, block, begin, length: Math.min(BLOCK_SIZE, this.pieceSize(piece) - begin) };
  }

  private firstUnrequested(p: Partial): number {
    let b = p.hint;
    while (b < p.blocks && (p.received[b] || p.requests[b]! > 0)) b++;
    p.hint = b;
    return b;
  }

  private takeUnrequested(p: Partial, out: BlockRef[], max: number): void {
    for (let b = this.firstUnrequested(p); b < p.blocks && out.length < max; b++) {
      if (p.received[b] || p.requests[b]! > 0) continue;
      p.requests[b] = 1;
      out.push(this.ref(p.piece, b));
    }
  }

  private startPiece(piece: number, owner: number): Partial {
    const blocks = blockCount(this.pieceSize(piece));
    const p: Partial = {
      piece,
      blocks,
      requests: new Uint8Array(blocks),
      received: new Uint8Array(blocks),
      senders: new Int32Array(blocks).fill(-1),
      receivedCount: 0,
      owner,
      exclusive: this.failed.has(piece),
      hint: 0,
    };
    this.partials.set(piece, p);
    return p;
  }

  private isPending(i: number): boolean {
    return !this.have.has(i) && !this.partials.has(i);
  }

  private nextNewPiece(peer: PickerPeer): number {
    const n = this.pieceCount;
    if (this.have.count < this.randomFirst) {
      const start = Math.floor(this.random() * n);
      for (let k = 0; k < n; k++) {
        const i = (start + k) % n;
        if (this.isPending(i) && peer.has(i)) return i;
      }
      return -1;
    }
    if (
      this.orderDirty &&
      (this.picksSinceOrder >= 64 || this.cursor >= this.order.length || this.order.length === 0)
    )
      this.rebuildOrder();
    this.picksSinceOrder++;
    const order = this.order;
    // Skip the prefix of pieces that are no longer pending; it only grows until reset.
    while (this.cursor < order.length && !this.isPending(order[this.cursor]!)) this.cursor++;
    for (let k = this.cursor; k < order.length; k++) {
      const i = order[k]!;
      if (this.isPending(i) && peer.has(i)) return i;
    }
    return -1;
  }

  private rebuildOrder(): void {
    const idx: number[] = [];
    for (let i = 0; i < this.pieceCount; i++) if (!this.have.has(i)) idx.push(i);
    const key = new Float64Array(this.pieceCount);
    for (const i of idx) key[i] = this.availability[i]! + this.random();
    idx.sort((a, b) => key[a]! - key[b]!);
    this.order = Int32Array.from(idx);
    this.cursor = 0;
    this.orderDirty = false;
    this.picksSinceOrder = 0;
  }

  // ---- events -------------------------------------------------------------------------

  /** A block arrived from `peerId`. */
  blockReceived(piece: number, block: number, peerId: number): Received {
    const p = this.partials.get(piece);
    if (!p || block < 0 || block >= p.blocks || p.received[block]) return Received.Unwanted;
    p.received[block] = 1;
    p.senders[block] = peerId;
    if (p.requests[block]! > 0) p.requests[block]!--;
    p.receivedCount++;
    return p.receivedCount === p.blocks ? Received.PieceComplete : Received.Accepted;
  }

  /** A request will not be answered (cancelled, rejected, timed out, peer gone). */
  requestCancelled(piece: number, block: number): void {
    const p = this.partials.get(piece);
    if (!p || p.received[block] || p.requests[block] === 0) return;
    p.requests[block]!--;
    if (p.requests[block] === 0 && block < p.hint) p.hint = block;
    if (p.receivedCount === 0 && !p.exclusive && p.requests.every((r) => r === 0)) {
      this.partials.delete(piece);
      this.cursor = 0;
    }
  }

  /** A peer left: its exclusive pieces become claimable by another peer. */
  peerGone(peerId: number): void {
    for (const p of this.partials.values()) if (p.owner === peerId) p.owner = -1;
  }

  /** The piece passed its hash check (or was found on disk). */
  pieceVerified(piece: number): void {
    this.partials.delete(piece);
    this.failed.delete(piece);
    this.have.set(piece);
  }

  /** A piece we had is gone (its data on disk no longer hashes): fetch it again. */
  pieceLost(piece: number): void {
    if (!this.have.clear(piece)) return;
    this.cursor = 0;
    this.order = new Int32Array(0); // rebuilt with it at the next pick
    this.orderDirty = true;
  }

  /**
   * The piece failed its hash check: it becomes pending again, to be fetched from a single
   * peer. Returns the ids of the peers that sent its blocks, one entry per block.
   */
  pieceFailed(piece: number): number[] {
    const p = this.partials.get(piece);
    this.partials.delete(piece);
    this.failed.add(piece);
    this.cursor = 0;
    this.orderDirty = true;
    return p ? Array.from(p.senders).filter((s) => s >= 0) : [];
  }

  /** Pieces with some block outstanding or received (for diagnostics and tests). */
  partialPieces(): number[] {
    return [...this.partials.keys()];
  }
}
