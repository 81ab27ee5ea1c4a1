/**
 * A bounded replay guard for authenticated messages: a message carries its
 * sender's timestamp and a random nonce; it is accepted once, and only while
 * its timestamp is within `windowMs` of the receiver's clock. Pure: time is a
 * parameter.
 */

/** Why a message was refused. */
export type ReplayRefusal = 'stale' | 'replayed';

/**
 * Remembers the nonces of accepted messages for as long as their timestamps
 * are inside the window. When the table is full, the oldest nonce is forgotten
 * and `floor` rises to its timestamp: from then on nothing at or before that
 * time is accepted, so forgetting a nonce never lets its message in again.
 */
export class ReplayGuard {
  private readonly seen = new Map<string, number>();
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
    while (this.seen.size >= this.maxEntries) {
      const [oldest, ts] = this.seen.entries().next().value as [string, number];
      this.seen.delete(oldest);
      if (ts > this.floor) this.floor = ts;
    }
    this.seen.set(nonce, timestamp);
    return 'ok';
  }

  /** Nonces remembered now. */
  get size(): number {
    return this.seen.size;
  }

  /** Forgets nonces whose timestamps left the window (they would be refused as stale anyway). */
  private prune(now: number): void {
    const limit = now - this.windowMs;
    for (const [nonce, ts] of this.seen) {
      // Arrival order is close to timestamp order; stop at the first fresh one.
      if (ts >= limit) break;
      this.seen.delete(nonce);
    }
  }
}
