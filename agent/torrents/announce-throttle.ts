/**
 * When a torrent's provider record is worth announcing again. Pure: time is a parameter.
 *
 * Every announce is a record gossip carries to every agent, so a download must not
 * re-announce each second its `left` moves (one record per torrent per second per agent
 * adds up at a thousand agents). What other agents act on is coarse: "seed or leecher"
 * (a seed dials only leechers) and roughly how far along. So:
 * - the first announce after (re)activation is immediate (start, resume, state change);
 * - completion (`left` reaching 0) is immediate: it turns us into a seed for everyone;
 * - any other change of `left` waits until `progressMs` passed since the last announce,
 *   or until it moved by at least `progressFraction` of the torrent's size;
 * - an unchanged record is refreshed every `reannounceMs`, well inside the Store's TTL.
 */

/** Throttle settings. */
export interface AnnounceThrottle {
  /** Refresh an unchanged record this often (well inside the Store's TTL). */
  readonly reannounceMs: number;
  /** A changed `left` is re-announced at most this often... */
  readonly progressMs: number;
  /** ... unless it moved by at least this fraction of the torrent's size (0-1). */
  readonly progressFraction: number;
}

/** The record as last announced; null when nothing live is announced. */
export interface LastAnnounce {
  readonly left: number;
  readonly at: number;
}

/** Default progress throttle: 10 s or 10 % of the torrent, whichever comes first. */
export const PROGRESS_MS = 10_000;
export const PROGRESS_FRACTION = 0.1;

/**
 * True when a record with `left` (of `total` bytes) should be announced at `now`, given
 * what was last announced.
 */
export function announceDue(
  last: LastAnnounce | null,
  now: number,
  left: number,
  total: number,
  t: AnnounceThrottle,
): boolean {
  if (last === null) return true;
  const since = now - last.at;
  if (since >= t.reannounceMs) return true;
  if (left === last.left) return false;
  if (left === 0) return true;
  if (since >= t.progressMs) return true;
  return Math.abs(last.left - left) >= t.progressFraction * total;
}
