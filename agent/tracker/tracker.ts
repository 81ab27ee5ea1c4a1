/**
 * The HTTP tracker's logic, backed by the overlay: an announce (BEP 3) registers
 * the requester as a provider in the Replica — the same Store gRPC, legacy and
 * torrent announces go to, spread by gossip — and answers with providers of that
 * info hash learned anywhere in the cluster. `stopped` writes a tombstone. Scrape
 * (BEP 48) counts live providers. No sockets: the HTTP route passes the query and
 * the observed address.
 */
import { ResourceExhaustedError } from '../errors.js';
import type { Replica } from '../replica.js';
import type { InfoHashKey } from '../store/infohash.js';
import { parseAddr, type ProviderRecord } from '../store/record.js';
import { TrackerRequestError, type TrackerFailure } from './errors.js';
import { parseQuery, type QueryLimits } from './query.js';
import { encodeCompactAnnounce } from './compact.js';
import { pickPeers } from './pick.js';
import { SwarmViews } from './swarms.js';
import {
  encodeAnnounceReply,
  encodeFailure,
  encodeScrapeReply,
  type ScrapeFile,
  type TrackerPeer,
} from './reply.js';
import { parseAnnounce, parseScrape, type AnnounceRequest } from './request.js';

/** Behaviour and bounds of the tracker endpoint. */
export interface TrackerOptions {
  /** Re-announce interval told to clients, seconds; must be well inside the Store's TTL. */
  readonly intervalSec: number;
  /** `min interval` told to clients, seconds. */
  readonly minIntervalSec: number;
  /** Peers returned when the client sends no numwant (BEP 3 suggests 50). */
  readonly defaultNumwant: number;
  /** Most peers returned, whatever numwant asks. */
  readonly maxNumwant: number;
  /** Honour the `ip` parameter from any requester (otherwise only from loopback). */
  readonly trustIp: boolean;
  /** Info hashes per scrape. */
  readonly maxScrapeInfoHashes: number;
  /** Bounds of the query string. */
  readonly query: QueryLimits;
  /** Info hashes whose completion count (`downloaded`) is remembered; oldest dropped past it. */
  readonly maxDownloadedEntries: number;
}

/** Defaults: a 30 s interval keeps a client's record alive under the default 90 s TTL. */
export const DEFAULT_TRACKER_OPTIONS: TrackerOptions = Object.freeze({
  intervalSec: 30,
  minIntervalSec: 15,
  defaultNumwant: 50,
  maxNumwant: 200,
  trustIp: false,
  maxScrapeInfoHashes: 64,
  query: Object.freeze({ maxParams: 100, maxValueBytes: 1024 }),
  maxDownloadedEntries: 100_000,
});

/**
 * Admission checks from the security layer (agent/security): a per-source rate
 * limit, and the announce address check for an address named by the `ip` parameter.
 */
export interface TrackerGuard {
  /** Whether a request from `ip` may proceed. */
  allow(ip: string): boolean;
  /** Undefined when `ip` may announce `addr`, else why not. */
  refuseAddr(ip: string, addr: string): string | undefined;
  /** Undefined when `ip` may add `addr` to `infoHash`'s providers (ports per host), else why not. */
  refuseHostShare?(ip: string, infoHash: string, addr: string): string | undefined;
}

/** What one request did: the reply body, and labels for metrics. */
export interface TrackerOutcome {
  readonly body: Buffer;
  /** BEP 3 event ("none" for a regular announce; "scrape" for scrapes). */
  readonly event: string;
  /** "ok" or the failure reason. */
  readonly result: 'ok' | TrackerFailure;
}

/** Counters by outcome, read by status and tests. */
export interface TrackerCounters {
  announces: number;
  /** Announces that repeated a record stored less than `min interval` ago (not re-stored). */
  coalesced: number;
  scrapes: number;
  failures: Record<string, number>;
}

/** The requester's address without the IPv4-mapped IPv6 prefix. */
export function plainIp(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

/** Loopback (RFC 1122 §3.2.1.3: 127/8; RFC 4291 §2.5.3: ::1). */
export function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1';
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Splits a Store addr ("host:port", "[v6]:port") into a peer for the reply. */
function peerOf(r: ProviderRecord): TrackerPeer {
  const colon = r.addr.lastIndexOf(':');
  let host = r.addr.slice(0, colon);
  if (host.startsWith('[')) host = host.slice(1, -1);
  return { host, port: Number(r.addr.slice(colon + 1)), peerId: r.peerId };
}

/** The tracker endpoint's logic over one Replica. */
export class Tracker {
  readonly counters: TrackerCounters = { announces: 0, coalesced: 0, scrapes: 0, failures: {} };
  /** Completions reported to this agent per info hash (BEP 48 `downloaded`), bounded. */
  private readonly downloaded = new Map<InfoHashKey, number>();
  /** Newest-first records and counts of the swarms announced to, fed by the Replica. */
  private readonly swarms: SwarmViews;

  constructor(
    private readonly replica: Replica,
    readonly options: TrackerOptions = DEFAULT_TRACKER_OPTIONS,
    private readonly guard?: TrackerGuard,
  ) {
    const swarms = new SwarmViews(replica.store);
    this.swarms = swarms;
    replica.onChange((key, record) => swarms.applied(key, record));
  }

  /**
   * Handles `GET /announce?<query>` from `observedIp`. Never rejects for bad input.
   * Settles once the announced record is stored (signed off the event loop).
   */
  async announce(query: string, observedIp: string): Promise<TrackerOutcome> {
    let event = 'none';
    try {
      this.admit(observedIp);
      const req = parseAnnounce(parseQuery(query, this.options.query));
      if (req.event !== '') event = req.event;
      const body = await this.register(req, plainIp(observedIp));
      this.counters.announces++;
      return { body, event, result: 'ok' };
    } catch (err) {
      return { ...this.failure(err), event };
    }
  }

  /** Handles `GET /scrape?<query>` from `observedIp`. Never throws for bad input. */
  scrape(query: string, observedIp: string): TrackerOutcome {
    try {
      this.admit(observedIp);
      const keys = parseScrape(
        parseQuery(query, this.options.query),
        this.options.maxScrapeInfoHashes,
      );
      const files: ScrapeFile[] = keys.map((k) => {
        const { complete, incomplete } = pickPeers(this.liveRecords(k), 0, '');
        return { infoHash: k, complete, incomplete, downloaded: this.downloaded.get(k) ?? 0 };
      });
      this.counters.scrapes++;
      return { body: encodeScrapeReply(files), event: 'scrape', result: 'ok' };
    } catch (err) {
      return { ...this.failure(err), event: 'scrape' };
    }
  }

  /** Frees the swarm views of info hashes nobody announced to for a TTL (the agent's sweep). */
  sweep(): void {
    this.swarms.sweep(this.replica.now());
  }

  private async register(req: AnnounceRequest, observedIp: string): Promise<Buffer> {
    let host = observedIp;
    if (req.ip !== undefined && (this.options.trustIp || isLoopback(observedIp))) {
      // BEP 3: `ip` may be an IP address or a DNS name. Honoured only where it
      // cannot be used to point a swarm at a third party (loopback, or trusted).
      try {
        host = parseAddr(hostPort(req.ip, req.port), 'ip').host;
      } catch {
        throw new TrackerRequestError('bad_ip', 'ip must be an IPv4, IPv6 address or DNS name');
      }
    }
    const addr = hostPort(host, req.port);
    if (host !== observedIp && this.guard !== undefined) {
      const refusal = this.guard.refuseAddr(observedIp, addr);
      if (refusal !== undefined) throw new TrackerRequestError('foreign_addr', refusal);
    }
    if (req.event !== 'stopped' && this.guard?.refuseHostShare !== undefined) {
      const refusal = this.guard.refuseHostShare(observedIp, req.infoHash, addr);
      if (refusal !== undefined) throw new TrackerRequestError('host_limit', refusal);
    }
    try {
      if (!this.isRepeat(req, addr)) {
        await this.replica.announceAsync(
          req.infoHash,
          { addr, peerId: req.peerId, left: req.left },
          req.event === 'stopped',
        );
      } else this.counters.coalesced++;
    } catch (err) {
      if (err instanceof ResourceExhaustedError) {
        // A burst beyond what the agent signs in time is refused at once (the
        // client retries after its interval) rather than queued without bound.
        if (err.bound === 'signing_backlog') throw new TrackerRequestError('busy', err.message);
        throw new TrackerRequestError('tracker_full', err.message);
      }
      throw err;
    }
    if (req.event === 'completed') this.countCompletion(req.infoHash);
    // Newest first, `want` of them. Records without a peer id are left out: in the
    // legacy world those are overlay nodes' own addresses, not BitTorrent peers.
    const want =
      req.event === 'stopped'
        ? 0
        : Math.min(req.numwant ?? this.options.defaultNumwant, this.options.maxNumwant);
    const times = { interval: this.options.intervalSec, minInterval: this.options.minIntervalSec };
    const view = this.swarms.view(req.infoHash, this.replica.now());
    if (req.compact && view !== undefined) return view.compactReply(times, want, addr);
    const swarm = view?.pick(want, addr) ?? pickPeers([], want, addr);
    const counts = { ...times, complete: swarm.complete, incomplete: swarm.incomplete };
    if (req.compact) return encodeCompactAnnounce(counts, swarm.peers);
    return encodeAnnounceReply({
      ...counts,
      peers: swarm.peers.map(peerOf),
      compact: false,
      noPeerId: req.noPeerId,
    });
  }

  /** The unexpired records (tombstones included) of an info hash, unsorted. */
  private liveRecords(key: InfoHashKey): ProviderRecord[] {
    return this.replica.store.records(key, this.replica.now());
  }

  private admit(observedIp: string): void {
    if (this.guard !== undefined && !this.guard.allow(plainIp(observedIp))) {
      throw new TrackerRequestError('rate_limited', 'too many requests from this address');
    }
  }

  /**
   * An announce that changes nothing this agent stored less than `min interval`
   * ago: same peer, same `left`, live, no event. Storing it again would only sign
   * and gossip a new timestamp cluster-wide; the held one is young enough (well
   * inside the TTL) that skipping it cannot let the record expire early.
   */
  private isRepeat(req: AnnounceRequest, addr: string): boolean {
    if (req.event !== '' && req.event !== 'paused') return false;
    const held = this.replica.store.get(req.infoHash, addr);
    return (
      held !== undefined &&
      !held.removed &&
      held.origin === this.replica.nodeId &&
      held.peerId === req.peerId &&
      held.left === req.left &&
      this.replica.now() - held.lastSeen < this.options.minIntervalSec * 1000
    );
  }

  private countCompletion(key: InfoHashKey): void {
    const n = this.downloaded.get(key);
    if (n !== undefined) {
      this.downloaded.set(key, n + 1);
      return;
    }
    if (this.downloaded.size >= this.options.maxDownloadedEntries) {
      const oldest = this.downloaded.keys().next();
      if (oldest.done !== true) this.downloaded.delete(oldest.value);
    }
    this.downloaded.set(key, 1);
  }

  private failure(err: unknown): { body: Buffer; result: TrackerFailure } {
    if (!(err instanceof TrackerRequestError)) throw err;
    this.counters.failures[err.reason] = (this.counters.failures[err.reason] ?? 0) + 1;
    return { body: encodeFailure(err.message), result: err.reason };
  }
}
