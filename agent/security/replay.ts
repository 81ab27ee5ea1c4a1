/**
 * A bounded replay guard for authenticated messages: a message carries its
 * sender's timestamp and a random nonce; it is accepted once, and only while
 * its timestamp is within `windowMs` of the receiver's clock. Pure: time is a
 * parameter.
 */

/** Why a message was refused. */
export type ReplayRefusal = 'stale' | 'replayed';

interface Entry {
  readonly ts: number;
  readonly nonce: string;
}

/**
 * Remembers the nonces of accepted messages for as long as their timestamps
 * are inside the window. When the table is full, the nonce with the smallest
 * timestamp is forgotten and `floor` rises to that timestamp: from then on
 * nothing at or before that time is accepted. Every forgotten nonce has a
 * timestamp at or below the floor (or outside the window), so forgetting one
 * never lets its message in again. Evicting by arrival instead would let a
 * delayed message (accepted late, small timestamp) stay while newer ones go,
 * and raise the floor past messages still in flight.
 */
export class ReplayGuard {
  private readonly seen = new Set<string>();
  /** Min-heap on timestamp: the same entries as `seen`. */
  private readonly heap: Entry[] = [];
  private floor = -Infinity;

  constructor(
    /** Accepted distance between a message's timestamp and now, either way, ms. */
    readonly windowMs: number,
    /** Nonces remembered at most. */
    readonly maxEntries: number,
  ) {}

  /** Accepts (and remembers) a nonce, or says why not. */
  check(nonce: string, timestamp: number, now: number): 'ok' | ReplayRefusal {
    if (timestamp < now - this.windowMs || timestamp > now + this.windowMs) return 'stale';
    if (timestamp <= this.floor) return 'stale';
    if (this.seen.has(nonce)) return 'replayed';
    this.prune(now);
    if (this.heap.length >= this.maxEntries && (this.heap[0]?.ts ?? Infinity) >= timestamp) {
      // It would be the smallest, the one forgotten: accept it once, refuse its time on.
      this.floor = timestamp;
      return 'ok';
    }
    while (this.heap.length > 0 && this.heap.length >= this.maxEntries) {
      const smallest = this.pop();
      if (smallest.ts > this.floor) this.floor = smallest.ts;
    }
    this.push({ ts: timestamp, nonce });
    return 'ok';
  }

  /** Nonces remembered now. */
  get size(): number {
    return this.heap.length;
  }

  /** The timestamp at or before which everything is refused (-Infinity until the table fills). */
  get refusedUpTo(): number {
    return this.floor;
  }

  /** Forgets nonces whose timestamps left the window (they would be refused as stale anyway). */
  private prune(now: number): void {
    const limit = now - this.windowMs;
    while (this.heap.length > 0 && this.heap[0]!.ts < limit) this.pop();
  }

  private push(e: Entry): void {
    const h = this.heap;
    this.seen.add(e.nonce);
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]!.ts <= e.ts) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = e;
  }

  private pop(): Entry {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && h[r]!.ts < h[l]!.ts ? r : l;
        if (h[c]!.ts >= last.ts) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    this.seen.delete(top.nonce);
    return top;
  }
}
