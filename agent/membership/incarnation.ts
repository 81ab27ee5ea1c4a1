/**
 * Bounds on SWIM incarnation numbers, so that one message cannot poison a
 * member's entry. An agent starts at the Unix time in seconds and adds one per
 * refutation (swim.ts), so an honest incarnation is close to the clock; a claim
 * far above it ("X is dead at 2^53−1") would otherwise leave X unable to
 * refute, since only a greater incarnation beats it. Pure: time is an input.
 */

/**
 * Absolute cap: 2^32 − 1, the range of memberlist's and Serf's uint32
 * incarnation, far below 2^53 (Number.MAX_SAFE_INTEGER) so `+ 1` is always
 * exact. Unix seconds stay below it until 2106.
 */
export const INCARNATION_LIMIT = 2 ** 32 - 1;

/**
 * How far an incarnation may run ahead of the receiver's clock, seconds: 2^20
 * (about 12 days) covers clock skew between agents and a million refutations
 * more than a wall-clock start gives. Records already need clocks within
 * --max-skew (30 s), so honest agents are nowhere near it.
 */
export const INCARNATION_AHEAD_S = 2 ** 20;

/**
 * The largest incarnation accepted at `now` (ms). It moves up by one every
 * second, so a poisoned claim P that a receiver accepted (P ≤ its cap) is beaten
 * by the refutation P + 1 at that receiver at most one second later: refutation
 * always stays possible. Only past 2106 − 12 days does the absolute cap bind.
 */
export function maxIncarnation(now: number): number {
  return Math.min(INCARNATION_LIMIT, Math.floor(now / 1000) + INCARNATION_AHEAD_S);
}
