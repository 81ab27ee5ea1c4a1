/**
 * Peer discovery seam. The session asks every `PeerSource` for peers on start, on its
 * interval, on completion and on stop. The HTTP tracker client is one implementation;
 * overlay discovery (next issue) is another. Push-style sources call `session.addPeers`.
 */

/** A peer's TCP address. */
export interface PeerAddr {
  host: string;
  port: number;
}

/** BEP 3 announce events. */
export type AnnounceEvent = 'started' | 'completed' | 'stopped' | undefined;

export interface AnnounceParams {
  infoHash: Buffer;
  peerId: Buffer;
  /** Our listening port (0 when not listening). */
  port: number;
  uploaded: number;
  downloaded: number;
  left: number;
  event: AnnounceEvent;
  numwant: number;
}

/** Floor on the announce interval we honour, so a broken tracker cannot make us spin. */
export const MIN_INTERVAL_SEC = 5;

export interface AnnounceResult {
  peers: PeerAddr[];
  /** Seconds until the next regular announce. */
  intervalSec: number;
}

export interface PeerSource {
  /** For logs and progress, e.g. the tracker URL. */
  readonly name: string;
  announce(p: AnnounceParams): Promise<AnnounceResult>;
}

/** Parses "host:port" (IPv6 as "[addr]:port"); throws on anything else. */
export function parsePeerAddr(s: string): PeerAddr {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(s) ?? /^([^:\s[\]]+):(\d{1,5})$/.exec(s);
  if (!m) throw new Error(`expected host:port, got ${JSON.stringify(s)}`);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw new Error(`port out of range in ${JSON.stringify(s)}`);
  return { host: m[1]!, port };
}

export const formatPeerAddr = (a: PeerAddr): string =>
  a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;

/** After a failed announce, the source is tried again this much later. */
export const ANNOUNCE_RETRY_MS = 60_000;

/**
 * When each peer source is next due for a regular announce (the tracker's `interval`):
 * never two announces to one source at once, and a minute's back-off after a failure.
 * Shared by the download session and the magnet metadata phase.
 */
export class AnnounceSchedule {
  private readonly next = new Map<PeerSource, number>();

  constructor(private readonly now: () => number) {}

  /** Whether `s` was announced to (so a `stopped` is owed to it). */
  started(s: PeerSource): boolean {
    return this.next.has(s);
  }

  /** Whether a regular announce to `s` is due at `now`. */
  due(s: PeerSource, now: number): boolean {
    return (this.next.get(s) ?? 0) <= now;
  }

  /**
   * Announces to `s` (bounded by `timeoutMs` when given) and schedules the next one.
   * Resolves with the peers it returned, or undefined after `stopped` or a failure.
   */
  async announce(
    s: PeerSource,
    p: AnnounceParams,
    timeoutMs?: number,
  ): Promise<PeerAddr[] | undefined> {
    this.next.set(s, Infinity); // no overlap while in flight
    try {
      const req = s.announce(p);
      const r = timeoutMs
        ? await Promise.race([
            req,
            new Promise<never>((_, rej) =>
              setTimeout(() => rej(new Error('timeout')), timeoutMs).unref(),
            ),
          ])
        : await req;
      if (p.event === 'stopped') return undefined;
      this.next.set(s, this.now() + r.intervalSec * 1000);
      return r.peers;
    } catch {
      // Tracker down: retry later; the torrent may have other sources.
      this.next.set(s, this.now() + ANNOUNCE_RETRY_MS);
      return undefined;
    }
  }
}
