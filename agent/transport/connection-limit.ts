/**
 * Open connections counted by source IP (pure), for the per-source cap shared by
 * every protocol on the agent's port (gRPC, legacy JSON, HTTP/1.1).
 *
 * The table holds an entry only while that source has a connection open, so it
 * never has more entries than the port has connections (`PortListener`'s total
 * cap): bounded without an eviction policy.
 */

/** Settings of a ConnectionTable. */
export interface ConnectionLimitOptions {
  /** Connections one source address may hold open at once. */
  readonly maxPerSource: number;
  /** Sources exempt from the cap (--trusted-sources: loopback by default). */
  readonly exempt?: (ip: string) => boolean;
}

/**
 * The default per-source cap. An agent holds one HTTP/2 channel to each member
 * it talks to (a few per source), a legacy Go node opens a short connection per
 * info hash it gossips, and tracker clients behind one NAT address open short
 * HTTP connections: 256 at once is far above each. It still keeps one host from
 * taking more than 1/40 of the port's 10 000 connections.
 */
export const DEFAULT_MAX_CONNECTIONS_PER_SOURCE = 256;

/** Counts of open connections per source; `open` refuses past the cap. */
export class ConnectionTable {
  private readonly open = new Map<string, number>();
  /** Connections refused because their source was at the cap, since start. */
  refused = 0;

  constructor(readonly options: ConnectionLimitOptions) {
    if (!(options.maxPerSource >= 1)) throw new RangeError('maxPerSource must be at least 1');
  }

  /**
   * Counts a new connection from `ip`; false (and counted) when that source
   * already holds `maxPerSource`. Call `close` once for each true.
   */
  tryOpen(ip: string): boolean {
    const n = this.open.get(ip) ?? 0;
    if (n >= this.options.maxPerSource && this.options.exempt?.(ip) !== true) {
      this.refused++;
      return false;
    }
    this.open.set(ip, n + 1);
    return true;
  }

  /** Forgets one connection of `ip` (opened with a true `tryOpen`). */
  close(ip: string): void {
    const n = this.open.get(ip);
    if (n === undefined) return;
    if (n <= 1) this.open.delete(ip);
    else this.open.set(ip, n - 1);
  }

  /** Connections `ip` holds open now. */
  count(ip: string): number {
    return this.open.get(ip) ?? 0;
  }

  /** Sources with a connection open now. */
  get sources(): number {
    return this.open.size;
  }
}
