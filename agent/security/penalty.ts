/**
 * Sources refused for a while after abusing the port (pure; time is a
 * parameter): a connection caught flooding HTTP/2 resets puts its source here,
 * and the port listener closes that source's new connections at accept, before
 * a byte is read, until the penalty ends.
 */

/** Settings of a PenaltyBox. */
export interface PenaltyOptions {
  /** Sources held at most; past it the one whose penalty ends first is forgotten. */
  readonly maxSources: number;
}

/** Sources penalised until a time. Bounded by `maxSources`. */
export class PenaltyBox {
  /** source → end of its penalty (ms), in insertion order. */
  private readonly until = new Map<string, number>();

  constructor(readonly options: PenaltyOptions) {
    if (!(options.maxSources >= 1)) throw new RangeError('maxSources must be at least 1');
  }

  /** Refuses `source` until `now + ms` (a longer existing penalty is kept). */
  penalise(source: string, now: number, ms: number): void {
    const end = Math.max(now + ms, this.until.get(source) ?? 0);
    this.until.delete(source);
    if (this.until.size >= this.options.maxSources) {
      // Penalties all have one length, so the first inserted ends first.
      this.until.delete(this.until.keys().next().value as string);
    }
    this.until.set(source, end);
  }

  /** Whether `source` is refused at `now`. */
  has(source: string, now: number): boolean {
    const end = this.until.get(source);
    if (end === undefined) return false;
    if (end > now) return true;
    this.until.delete(source);
    return false;
  }

  /** Sources held now (some may have expired and not yet been looked at). */
  get size(): number {
    return this.until.size;
  }
}
