/**
 * Choker (BEP 3 "tit-for-tat", as in the reference client and libtorrent). Pure: time is a
 * parameter. Every 10 s the interested peers with the best rate get the regular upload
 * slots; every 30 s one more interested peer, chosen at random, gets the optimistic slot,
 * so newcomers get a chance to prove themselves. Between rounds, free slots are filled
 * straight away when a peer becomes interested (no reshuffle of the current holders).
 */

/** Seconds between regular rechokes. */
export const RECHOKE_INTERVAL_MS = 10_000;
/** Seconds between optimistic unchoke rotations. */
export const OPTIMISTIC_INTERVAL_MS = 30_000;

export interface ChokerPeer {
  readonly id: number;
  readonly interested: boolean;
  /** Rate that earns a slot: what they upload to us while we download, what we upload to them when seeding. */
  readonly rate: number;
}

export interface ChokerOptions {
  regularSlots?: number;
  random: () => number;
}

export class Choker {
  private readonly slots: number;
  private readonly random: () => number;
  private regular = new Set<number>();
  private optimistic = -1;
  private lastRechoke = -Infinity;
  private lastOptimistic = -Infinity;

  constructor(o: ChokerOptions) {
    this.slots = o.regularSlots ?? 4;
    this.random = o.random;
  }

  /** The peers that should be unchoked now. */
  unchoked(): Set<number> {
    const s = new Set(this.regular);
    if (this.optimistic >= 0) s.add(this.optimistic);
    return s;
  }

  /**
   * Recomputes the unchoke set. Periodic rounds (10 s / 30 s) reshuffle by rate; calls in
   * between (peer became interested, left) only fill free slots and drop gone peers.
   */
  update(peers: readonly ChokerPeer[], now: number): Set<number> {
    const interested = peers.filter((p) => p.interested);
    const ids = new Set(interested.map((p) => p.id));
    for (const id of this.regular) if (!ids.has(id)) this.regular.delete(id);
    if (this.optimistic >= 0 && !ids.has(this.optimistic)) this.optimistic = -1;

    if (now - this.lastRechoke >= RECHOKE_INTERVAL_MS) {
      this.lastRechoke = now;
      const best = [...interested].sort((a, b) => b.rate - a.rate).slice(0, this.slots);
      this.regular = new Set(best.map((p) => p.id));
    } else {
      for (const p of interested) {
        if (this.regular.size >= this.slots) break;
        if (p.id !== this.optimistic) this.regular.add(p.id);
      }
    }
    if (this.regular.has(this.optimistic)) this.optimistic = -1;
    if (now - this.lastOptimistic >= OPTIMISTIC_INTERVAL_MS || this.optimistic < 0) {
      const candidates = interested.filter((p) => !this.regular.has(p.id));
      if (candidates.length > 0) {
        if (now - this.lastOptimistic >= OPTIMISTIC_INTERVAL_MS || this.optimistic < 0) {
          this.optimistic = candidates[Math.floor(this.random() * candidates.length)]!.id;
          this.lastOptimistic = now;
        }
      } else this.optimistic = -1;
    }
    return this.unchoked();
  }
}
