/**
 * Overlay discovery for one torrent: the agent announces itself as a provider of the info
 * hash in its own Replica (gossip spreads the record to every agent) and finds peers by
 * looking the info hash up in that same Replica (which gossip fills with everyone else's).
 *
 * Driven by `tick(now, status)` once per second from the torrent's progress; no timers of
 * its own. `left` is re-announced throttled (announce-throttle.ts): at once on activation
 * and completion, otherwise every 10 s or 10 % of progress, so a download costs the
 * overlay a handful of records rather than one per second.
 */
import type { Replica } from '../replica.js';
import type { ProviderRecord } from '../store/record.js';
import { parsePeerAddr, type PeerAddr } from '../torrent/peer-source.js';
import {
  announceDue,
  PROGRESS_FRACTION,
  PROGRESS_MS,
  type AnnounceThrottle,
  type LastAnnounce,
} from './announce-throttle.js';

/** Timing of announces and lookups. */
export interface OverlayDiscoveryTiming extends AnnounceThrottle {
  /** Look up providers this often while downloading (a local Store read: cheap). */
  readonly lookupMs: number;
  /** ... and this often while seeding (to dial leechers that cannot dial us). */
  readonly seedLookupMs: number;
  /** Providers read per lookup. */
  readonly maxPeersPerLookup: number;
}

/** Timing derived from the Store's TTL: re-announce at a third of it (two misses tolerated). */
export function discoveryTiming(ttlMs: number): OverlayDiscoveryTiming {
  return {
    reannounceMs: Math.max(500, Math.floor(ttlMs / 3)),
    progressMs: PROGRESS_MS,
    progressFraction: PROGRESS_FRACTION,
    lookupMs: 2000,
    seedLookupMs: 10_000,
    maxPeersPerLookup: 200,
  };
}

/** What the discovery needs to know of the torrent each tick. */
export interface DiscoveryStatus {
  /** True while the torrent serves peers (downloading or seeding). */
  readonly active: boolean;
  /** Bytes left to download (0 = seeder). */
  readonly left: number;
  /** The torrent's size in bytes (progress steps are judged against it). */
  readonly total: number;
  /**
   * False while a magnet link's metadata is fetched: look up providers (by info hash)
   * but announce nothing, since there is nothing to serve and `left` is unknown.
   * Default true.
   */
  readonly announce?: boolean;
}

/** One torrent's provider record and peer lookups in the overlay. */
export class OverlayDiscovery {
  private last: LastAnnounce | null = null;
  private lastLookup = -Infinity;

  /**
   * @param key the Store key (info hash hex)
   * @param addr our provider address, "host:port" of the peer-wire listener
   * @param peerId our peer id (20 bytes), stored as its latin1 form like every announce
   * @param onPeers receives providers other than ourselves to connect to
   */
  constructor(
    private readonly replica: Replica,
    private readonly key: string,
    readonly addr: string,
    private readonly peerId: Buffer,
    private readonly timing: OverlayDiscoveryTiming,
    private readonly onPeers: (peers: PeerAddr[]) => void,
  ) {}

  /** True while our live record is in the Store. */
  get announced(): boolean {
    return this.last !== null;
  }

  /** Announces, re-announces, withdraws and looks up as the torrent's status requires. */
  tick(now: number, s: DiscoveryStatus): void {
    if (!s.active) {
      this.withdraw();
      return;
    }
    if (s.announce === false) this.withdraw();
    else if (announceDue(this.last, now, s.left, s.total, this.timing)) {
      this.replica.announce(this.key, {
        addr: this.addr,
        peerId: this.peerId.toString('latin1'),
        left: s.left,
      });
      this.last = { left: s.left, at: now };
    }
    const leeching = s.left > 0 || s.announce === false;
    const every = leeching ? this.timing.lookupMs : this.timing.seedLookupMs;
    if (now - this.lastLookup >= every) {
      this.lastLookup = now;
      const peers = this.candidates(
        this.replica.lookup(this.key, this.timing.maxPeersPerLookup),
        !leeching,
      );
      if (peers.length > 0) this.onPeers(peers);
    }
  }

  /** Looks up now on the next tick (e.g. right after a start or resume). */
  lookupSoon(): void {
    this.lastLookup = -Infinity;
  }

  /** Tombstones our record (Remove, pause, error, shutdown); a no-op when not announced. */
  withdraw(): void {
    if (this.last === null) return;
    this.replica.announce(
      this.key,
      { addr: this.addr, peerId: this.peerId.toString('latin1'), left: this.last.left },
      true,
    );
    this.last = null;
  }

  /** Providers worth dialling: not ourselves; a seed only dials leechers. */
  private candidates(records: ProviderRecord[], seeding: boolean): PeerAddr[] {
    const out: PeerAddr[] = [];
    for (const r of records) {
      if (r.addr === this.addr || (seeding && r.left === 0)) continue;
      try {
        out.push(parsePeerAddr(r.addr));
      } catch {
        // a record the Store accepted but the peer-wire side cannot dial: skip it
      }
    }
    return out;
  }
}
