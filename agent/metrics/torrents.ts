/**
 * One torrent as the metrics read it: the fields of the torrent manager's
 * TorrentView (agent/torrents/manager.ts), so its `list()` can be passed as is.
 */
export interface TorrentSnapshot {
  readonly id: string;
  readonly state: string;
  /** Payload bytes received by the torrent's current session. */
  readonly downloaded: number;
  /** Payload bytes sent by the torrent's current session. */
  readonly uploaded: number;
  /** Connected peers (handshake done). */
  readonly peers: number;
}

/** Totals over every torrent seen now and before. */
export interface TorrentTotals {
  readonly downloaded: number;
  readonly uploaded: number;
  readonly peers: number;
  readonly states: ReadonlyMap<string, number>;
}

/**
 * Turns scrape-time snapshots of the torrents into monotonic byte totals. A
 * session's byte counts start again at 0 when it is restarted (resume, agent
 * restart) and vanish when its torrent is removed; the meter keeps the last
 * counts it saw in the totals in both cases, so the exported counters never go
 * down. (Bytes moved between the last scrape and a restart or removal are not
 * seen: a scrape interval's worth at most.)
 */
export class TorrentMeter {
  private readonly last = new Map<string, { down: number; up: number }>();
  private retiredDown = 0;
  private retiredUp = 0;

  /** Folds in the current snapshot and returns the totals. */
  totals(torrents: Iterable<TorrentSnapshot>): TorrentTotals {
    let downloaded = 0;
    let uploaded = 0;
    let peers = 0;
    const states = new Map<string, number>();
    const seen = new Set<string>();
    for (const t of torrents) {
      seen.add(t.id);
      const prev = this.last.get(t.id);
      if (prev !== undefined && t.downloaded < prev.down) this.retiredDown += prev.down;
      if (prev !== undefined && t.uploaded < prev.up) this.retiredUp += prev.up;
      this.last.set(t.id, { down: t.downloaded, up: t.uploaded });
      downloaded += t.downloaded;
      uploaded += t.uploaded;
      peers += t.peers;
      states.set(t.state, (states.get(t.state) ?? 0) + 1);
    }
    for (const [id, prev] of this.last) {
      if (seen.has(id)) continue;
      this.retiredDown += prev.down;
      this.retiredUp += prev.up;
      this.last.delete(id);
    }
    return {
      downloaded: downloaded + this.retiredDown,
      uploaded: uploaded + this.retiredUp,
      peers,
      states,
    };
  }
}
