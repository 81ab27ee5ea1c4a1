/**
 * Sources that keep being refused are sent away for a while (pure; time is a
 * parameter). Each refusal a source earns — a stream it reset before its answer
 * (HTTP/2 rapid reset), a message past the inbound budget, a request past a
 * per-source rate limit — is a strike against a token bucket per source; the
 * strike that empties the bucket expels the source: the agent closes every
 * connection it holds and the port listener closes its new ones at accept,
 * before a byte is read, until the penalty ends. Refusing a request still costs
 * the agent a little; refusing a connection at accept costs it almost nothing.
 */
import { RateLimiter } from './rate-limit.js';

/** Settings of the AbuseMonitor. */
export interface AbuseOptions {
  /** Strikes a source may take at once. */
  readonly strikeBurst: number;
  /** Strikes per second a source may sustain. */
  readonly strikeRatePerSec: number;
  /** How long an expelled source is refused at accept, ms. */
  readonly penaltyMs: number;
  /** Sources tracked at most (strike buckets, and penalties). */
  readonly maxSources: number;
}

/**
 * A client cancels a call when its deadline passes, and a Prometheus or a busy
 * tracker client is refused now and then by a rate limit: a few strikes a second
 * at most. A burst of 200 and 20/s sustained never expels one, while a
 * rapid-reset flood (thousands of streams a second) or a source hammering a
 * rate limit is expelled within a fraction of a second. A minute's penalty makes
 * coming back cost the attacker more than it costs the agent.
 */
export const DEFAULT_ABUSE_OPTIONS: AbuseOptions = Object.freeze({
  strikeBurst: 200,
  strikeRatePerSec: 20,
  penaltyMs: 60_000,
  maxSources: 65_536,
});

/** Why a source was expelled (counted as `abuse.<reason>`; `abuse.penalised` counts refused connections). */
export type AbuseReason = 'rapid_reset' | 'repeated_refusals' | 'rate_limited';

/** Strike buckets and penalties per source. Bounded by `maxSources` each. */
export class AbuseMonitor {
  private readonly strikes: RateLimiter;
  /** source → end of its penalty (ms), in insertion order. */
  private readonly until = new Map<string, number>();

  constructor(readonly options: AbuseOptions = DEFAULT_ABUSE_OPTIONS) {
    this.strikes = new RateLimiter({
      ratePerSec: options.strikeRatePerSec,
      burst: options.strikeBurst,
      maxSources: options.maxSources,
    });
  }

  /**
   * One strike against `source` at `now`. True when it empties the source's
   * bucket: the source is then penalised (and should lose its connections).
   */
  strike(source: string, now: number): boolean {
    if (this.strikes.take(source, now)) return false;
    if (this.isPenalised(source, now)) return false; // already sent away
    this.until.delete(source);
    if (this.until.size >= this.options.maxSources) {
      // Penalties all have one length, so the first inserted ends first.
      this.until.delete(this.until.keys().next().value as string);
    }
    this.until.set(source, now + this.options.penaltyMs);
    return true;
  }

  /** Whether `source` is refused at `now`. */
  isPenalised(source: string, now: number): boolean {
    const end = this.until.get(source);
    if (end === undefined) return false;
    if (end > now) return true;
    this.until.delete(source);
    return false;
  }

  /** Sources penalised now (some may have expired and not yet been looked at). */
  get penalised(): number {
    return this.until.size;
  }
}
