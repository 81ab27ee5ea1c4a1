/**
 * What the metrics need from a running torrent: the fields of the torrent
 * engine's `Progress` snapshot (agent/torrent/session.ts), so a TorrentSession
 * can be passed as it is.
 */
export interface TorrentMetricsSource {
  progress(): {
    readonly state: string;
    /** Payload bytes received by this session, monotonic. */
    readonly downloaded: number;
    /** Payload bytes sent by this session, monotonic. */
    readonly uploaded: number;
    /** Connected peers (handshake done). */
    readonly peers: number;
  };
}

/** Totals over every torrent tracked now and before. */
export interface TorrentTotals {
  readonly downloaded: number;
  readonly uploaded: number;
  readonly peers: number;
  readonly states: ReadonlyMap<string, number>;
}

/**
 * Sums torrents' progress at scrape time. A torrent that stops being tracked
 * leaves its last byte counts behind in the totals, so the exported counters
 * never go down when a torrent is removed.
 */
export class TorrentMeter {
  private readonly live = new Set<TorrentMetricsSource>();
  private retiredDown = 0;
  private retiredUp = 0;

  /** Starts counting `source`; the returned function stops (idempotent). */
  track(source: TorrentMetricsSource): () => void {
    this.live.add(source);
    return () => {
      if (!this.live.delete(source)) return;
      const p = source.progress();
      this.retiredDown += p.downloaded;
      this.retiredUp += p.uploaded;
    };
  }

  totals(): TorrentTotals {
    let downloaded = this.retiredDown;
    let uploaded = this.retiredUp;
    let peers = 0;
    const states = new Map<string, number>();
    for (const s of this.live) {
      const p = s.progress();
      downloaded += p.downloaded;
      uploaded += p.uploaded;
      peers += p.peers;
      states.set(p.state, (states.get(p.state) ?? 0) + 1);
    }
    return { downloaded, uploaded, peers, states };
  }
}
