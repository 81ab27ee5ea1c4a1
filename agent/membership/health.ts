/**
 * Lifeguard's local health (Dadgar et al. 2017, §4.1; memberlist's "awareness"):
 * a score 0..max that rises when this agent sees signs that it is itself slow —
 * a probe it sent failed, an indirect helper's nack did not arrive, it had to
 * refute a suspicion about itself, its own timers fired late — and falls with
 * every probe that succeeds. Probe intervals and timeouts are multiplied by
 * score + 1, so an overloaded agent probes and suspects more slowly instead of
 * blaming its busy peers for its own lateness. Pure: no clock.
 */
export class LocalHealth {
  private value = 0;

  /** `max`: the highest score (memberlist: awarenessMaxMultiplier 8). */
  constructor(private readonly max: number) {}

  /** The current score, 0..max. */
  get score(): number {
    return this.value;
  }

  /** What timeouts and intervals are multiplied by: score + 1. */
  get multiplier(): number {
    return this.value + 1;
  }

  /** Adds `delta` (negative to improve), clamped to 0..max. */
  apply(delta: number): void {
    this.value = Math.max(0, Math.min(this.max, this.value + delta));
  }
}
