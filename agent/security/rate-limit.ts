/**
 * Per-source rate limits (pure): a token bucket per source IP — `ratePerSec`
 * tokens refill continuously up to `burst`, each request takes one — in a
 * bounded table. Time is a parameter.
 */

/** Settings of a rate limiter. */
export interface RateLimitOptions {
  /** Sustained requests per second per source. */
  readonly ratePerSec: number;
  /** Requests a source may make at once after being idle (bucket size). */
  readonly burst: number;
  /** Sources tracked at most; the least recently seen is forgotten past it. */
  readonly maxSources: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Token buckets keyed by source. Memory is bounded by `maxSources`: the least
 * recently active source is evicted (and would start again with a full bucket —
 * an attacker cycling through more addresses than the table holds gets at most
 * `burst` per address per cycle, which the bound makes explicit).
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  /** Requests refused since start. */
  refused = 0;
  /** Sources evicted to stay within maxSources. */
  evicted = 0;

  constructor(readonly options: RateLimitOptions) {
    if (!(options.ratePerSec > 0) || !(options.burst >= 1) || !(options.maxSources >= 1)) {
      throw new RangeError('rate, burst and maxSources must be positive');
    }
  }

  /** Takes one token for `source` at `now` (ms); false when its bucket is empty. */
  take(source: string, now: number): boolean {
    const o = this.options;
    let b = this.buckets.get(source);
    if (b === undefined) {
      if (this.buckets.size >= o.maxSources) {
        this.buckets.delete(this.buckets.keys().next().value as string);
        this.evicted++;
      }
      b = { tokens: o.burst, at: now };
    } else {
      // Most recently seen last: re-insert so the first entry is the stalest.
      this.buckets.delete(source);
      const elapsed = Math.max(0, now - b.at);
      b.tokens = Math.min(o.burst, b.tokens + (elapsed * o.ratePerSec) / 1000);
      b.at = now;
    }
    this.buckets.set(source, b);
    if (b.tokens < 1) {
      this.refused++;
      return false;
    }
    b.tokens -= 1;
    return true;
  }

  /** Sources tracked now. */
  get size(): number {
    return this.buckets.size;
  }
}

/** Parses "N/s" or "N" (per second) as a rate; undefined when malformed. */
export function parseRate(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:\/\s*(s|sec|second|m|min|minute))?\s*$/.exec(text);
  if (m === null) return undefined;
  const n = Number(m[1]);
  const perMinute = m[2] !== undefined && m[2].startsWith('m');
  const rate = perMinute ? n / 60 : n;
  return rate > 0 ? rate : undefined;
}
