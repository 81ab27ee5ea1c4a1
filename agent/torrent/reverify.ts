/**
 * Lazy re-verification after an unclean stop. The resume journal only lists pieces whose
 * data was fdatasync'ed first, but a journal left OPEN (the agent was killed, the power
 * went) is not trusted blindly: its pieces count as verified, so the picker does not fetch
 * them again and the restart is instant, yet each is hashed before it is first served to a
 * peer, and a background sweep hashes them all, one at a time. A piece whose data does not
 * hash is reported through `onBad` (the session drops it from the journal and fetches it
 * again), so nothing corrupt is ever served.
 */

/** Hashes piece i from disk into `scratch`; true when it matches the metainfo. */
export type PieceCheck = (piece: number, scratch: Buffer) => Promise<boolean>;

export class SuspectPieces {
  private readonly pending: Set<number>;
  private readonly results = new Map<number, Promise<boolean>>();
  /** One check at a time, through one buffer: memory stays at one piece. */
  private chain: Promise<unknown> = Promise.resolve();
  private scratch: Buffer | null = null;

  constructor(
    pieces: Iterable<number>,
    private readonly pieceLength: number,
    private readonly check: PieceCheck,
    private readonly onBad: (piece: number) => void,
    /** True once the session stopped: results are then discarded (storage is closing). */
    private readonly stopped: () => boolean,
  ) {
    this.pending = new Set(pieces);
  }

  /** Pieces not re-verified yet. */
  get size(): number {
    return this.pending.size;
  }

  has(piece: number): boolean {
    return this.pending.has(piece);
  }

  /** True when piece i may be served: not suspect, or re-verified now. */
  verify(piece: number): Promise<boolean> {
    if (!this.pending.has(piece)) return Promise.resolve(true);
    let r = this.results.get(piece);
    if (r === undefined) {
      r = this.chain.then(async () => {
        if (this.stopped()) return false;
        this.scratch ??= Buffer.allocUnsafe(this.pieceLength);
        const ok = await this.check(piece, this.scratch).catch(() => false);
        if (this.stopped()) return false;
        this.pending.delete(piece);
        this.results.delete(piece);
        if (!ok) this.onBad(piece);
        if (this.pending.size === 0) this.scratch = null;
        return ok;
      });
      this.results.set(piece, r);
      this.chain = r;
    }
    return r;
  }

  /** Re-verifies every suspect piece in the background (in index order). */
  async sweep(): Promise<void> {
    for (const i of [...this.pending].sort((a, b) => a - b)) {
      if (this.stopped()) return;
      await this.verify(i);
    }
  }

  /** Resolves once the check under way (if any) is done: storage may close then. */
  async idle(): Promise<void> {
    await this.chain;
  }
}
