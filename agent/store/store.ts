import type { InfoHashKey } from './infohash.js';
import { bucketOf, type StoreDigest } from './digest.js';
import { DigestIndex } from './digest-index.js';
import { compareRecords, hostKeyOf, type ProviderRecord } from './record.js';

/** Bounds and timing of a Store. Every number has a default in DEFAULT_STORE_OPTIONS. */
export interface StoreOptions {
  /** Records (live and tombstones) expire this long after their last_seen. */
  readonly ttlMs: number;
  /** A last_seen further than this in the future is clamped to now. */
  readonly maxSkewMs: number;
  /**
   * Providers kept per info hash; past it a record of the host holding the most
   * of them is evicted (its oldest), so one host cannot push out the others.
   */
  readonly maxProvidersPerInfoHash: number;
  /** Info hashes kept; a record for a new info hash past it is refused. */
  readonly maxInfoHashes: number;
  /**
   * Records (live and tombstones, all info hashes) kept at most (--max-records). At
   * the budget a record for a new (info hash, addr) is refused, whoever sent it;
   * updates of held records (refreshes, tombstones replacing them) still apply, as
   * they take no room, and nothing held is evicted for a newcomer.
   */
  readonly maxRecords: number;
}

/** The defaults: one 90 s TTL for lookups and sweep, 30 s of tolerated clock skew. */
export const DEFAULT_STORE_OPTIONS: StoreOptions = Object.freeze({
  ttlMs: 90_000,
  maxSkewMs: 30_000,
  maxProvidersPerInfoHash: 1000,
  maxInfoHashes: 1_000_000,
  maxRecords: 10_000_000,
});

/** Why a record was refused by the Store. */
export type RefusalReason = 'expired' | 'provider_limit' | 'info_hash_limit' | 'record_limit';

/** What merging one record did: it changed the store, changed nothing, or was refused. */
export type MergeOutcome = 'applied' | 'unchanged' | RefusalReason;

/** Counters of what the Store refused or corrected, for metrics and status. */
export interface StoreCounters {
  refused: Record<RefusalReason, number>;
  /** Records whose future last_seen was clamped to now. */
  clamped: number;
  /** Records evicted to make room under max_providers_per_info_hash. */
  evicted: number;
}

/** Sizes of a Store at one instant. */
export interface StoreStats {
  infoHashes: number;
  providers: number;
  tombstones: number;
}

/** Records per info hash from which merge and get find an addr through a Map. */
const INDEX_MIN = 32;

/** Origins repeat across millions of records; interning keeps one copy of each. */
const MAX_INTERNED_ORIGINS = 65_536;

/**
 * The replicated map info hash → providers. Pure: no timers, sockets or clock of
 * its own; every call that depends on time takes `now` (Unix ms).
 *
 * Merge is a state-based CRDT (last-writer-wins register per (info hash, addr),
 * ordered by `compareRecords`), so replicas that saw the same records in any order
 * hold the same state. Removals are tombstone records. Everything expires `ttlMs`
 * after its last_seen: lookups filter on it and `sweep` frees it.
 */
export class Store {
  readonly options: StoreOptions;
  readonly counters: StoreCounters = {
    refused: { expired: 0, provider_limit: 0, info_hash_limit: 0, record_limit: 0 },
    clamped: 0,
    evicted: 0,
  };
  // Per info hash an unsorted array: with the usual tens of providers a linear scan
  // beats a Map in both time and memory (the bound keeps the worst case at 1000).
  private readonly byInfoHash = new Map<InfoHashKey, ProviderRecord[]>();
  /**
   * addr → position in byInfoHash's array, only for info hashes holding at least
   * INDEX_MIN records (a busy tracker's swarms: there the linear scan of addr
   * strings was the Store's main cost, ~8 µs per merge at ~100 providers). Dropped
   * whenever sweep moves records, rebuilt on the next look-up.
   */
  private readonly addrIndex = new Map<InfoHashKey, Map<string, number>>();
  private readonly origins = new Map<string, string>();
  /** Records held (live, expired not yet swept, tombstones): what maxRecords bounds. */
  private held = 0;
  /** Of `held`, the tombstones: kept as records come and go, so `stats` is O(1). */
  private heldTombstones = 0;
  /** Bumped by every change; keys the digest cache. */
  private version = 0;
  private digestCache: { version: number; buckets: number; digest: StoreDigest } | undefined;
  /**
   * Incremental digest: every place that puts a record in or takes one out of
   * byInfoHash must call digestIndex.add/remove (digest() rebuilds it if the
   * record count disagrees).
   */
  private readonly digestIndex = new DigestIndex();
  /** Times digest() found the index out of step and rebuilt it (should stay 0). */
  digestRebuilds = 0;

  constructor(options: Partial<StoreOptions> = {}) {
    this.options = { ...DEFAULT_STORE_OPTIONS, ...options };
  }

  /** Whether a record is still within its TTL at `now`. */
  isLive(record: ProviderRecord, now: number): boolean {
    return record.lastSeen + this.options.ttlMs > now;
  }

  /**
   * Merges one (already validated) record. A last_seen beyond now + max skew is
   * clamped to now first; an already expired record is refused so that swept
   * records are not resurrected by late gossip.
   */
  merge(key: InfoHashKey, incoming: ProviderRecord, now: number): MergeOutcome {
    let lastSeen = incoming.lastSeen;
    if (lastSeen > now + this.options.maxSkewMs) {
      lastSeen = now;
      this.counters.clamped++;
    }
    if (lastSeen + this.options.ttlMs <= now) return this.refuse('expired');
    // A fresh object of one fixed shape: V8 then shares one hidden class across all
    // records, and the origin string is shared across the records of one agent.
    const record: ProviderRecord = {
      addr: incoming.addr,
      peerId: incoming.peerId,
      left: incoming.left,
      lastSeen,
      origin: this.internOrigin(incoming.origin),
      removed: incoming.removed,
      // Always both fields (one hidden class); a signer key repeats per agent, so interned.
      signer: incoming.signer === undefined ? undefined : this.internOrigin(incoming.signer),
      sig: incoming.sig,
    };

    let records = this.byInfoHash.get(key);
    if (records === undefined) {
      if (this.byInfoHash.size >= this.options.maxInfoHashes) return this.refuse('info_hash_limit');
      if (this.held >= this.options.maxRecords) return this.refuse('record_limit');
      records = [];
      this.byInfoHash.set(key, records);
    }
    const at = this.indexOf(key, records, record.addr);
    if (at >= 0) {
      if (compareRecords(record, records[at]) <= 0) return 'unchanged';
      this.heldTombstones += Number(record.removed) - Number(records[at].removed);
      this.digestIndex.remove(key, records[at]);
      this.digestIndex.add(key, record);
      records[at] = record;
      this.version++;
      return 'applied';
    }
    if (records.length < this.options.maxProvidersPerInfoHash) {
      if (this.held >= this.options.maxRecords) return this.refuse('record_limit');
      this.held++;
      this.heldTombstones += Number(record.removed);
      records.push(record);
      this.digestIndex.add(key, record);
      this.addrIndex.get(key)?.set(record.addr, records.length - 1);
      this.version++;
      return 'applied';
    }
    const oldest = evictionVictim(records, record);
    if (oldest < 0) return this.refuse('provider_limit');
    const index = this.addrIndex.get(key);
    index?.delete(records[oldest].addr);
    index?.set(record.addr, oldest);
    this.digestIndex.remove(key, records[oldest]);
    this.digestIndex.add(key, record);
    this.heldTombstones += Number(record.removed) - Number(records[oldest].removed);
    records[oldest] = record;
    this.counters.evicted++;
    this.version++;
    return 'applied';
  }

  /** Live providers of an info hash, newest first (ties by addr), at most `limit` (0 = all). */
  lookup(key: InfoHashKey, limit: number, now: number): ProviderRecord[] {
    const records = this.byInfoHash.get(key);
    if (records === undefined) return [];
    const live: ProviderRecord[] = [];
    for (const r of records) if (!r.removed && this.isLive(r, now)) live.push(r);
    live.sort(newestFirst);
    return limit > 0 && live.length > limit ? live.slice(0, limit) : live;
  }

  /** The record held for (info hash, addr), live, expired or tombstone; undefined if none. */
  get(key: InfoHashKey, addr: string): ProviderRecord | undefined {
    const records = this.byInfoHash.get(key);
    if (records === undefined) return undefined;
    const at = this.indexOf(key, records, addr);
    return at < 0 ? undefined : records[at];
  }

  /** Position of `addr` in `records` (the array held for `key`), or -1. */
  private indexOf(key: InfoHashKey, records: ProviderRecord[], addr: string): number {
    if (records.length < INDEX_MIN) {
      for (let i = 0; i < records.length; i++) if (records[i].addr === addr) return i;
      return -1;
    }
    let index = this.addrIndex.get(key);
    if (index === undefined) {
      index = new Map();
      for (let i = 0; i < records.length; i++) index.set(records[i].addr, i);
      this.addrIndex.set(key, index);
    }
    return index.get(addr) ?? -1;
  }

  /**
   * Live providers (not tombstones) of `key` on `addr`'s host (hostKeyOf), `addr`
   * itself left out: how many ports that host already announces for the info
   * hash. O(records of the info hash).
   */
  hostProviders(key: InfoHashKey, addr: string, now: number): number {
    const records = this.byInfoHash.get(key);
    if (records === undefined) return 0;
    const host = hostKeyOf(addr);
    let n = 0;
    for (const r of records) {
      if (r.removed || r.addr === addr || !this.isLive(r, now)) continue;
      if (hostKeyOf(r.addr) === host) n++;
    }
    return n;
  }

  /** Every unexpired record of an info hash, tombstones included (for replication). */
  records(key: InfoHashKey, now: number): ProviderRecord[] {
    const records = this.byInfoHash.get(key);
    return records === undefined ? [] : records.filter((r) => this.isLive(r, now));
  }

  /** The info hashes currently held (live or tombstoned records). */
  keys(): IterableIterator<InfoHashKey> {
    return this.byInfoHash.keys();
  }

  /** Frees expired records and empty info hashes. Returns how many records were freed. */
  sweep(now: number): number {
    let freed = 0;
    let held = 0;
    let tombstones = 0;
    for (const [key, records] of this.byInfoHash) {
      let kept = 0;
      for (let i = 0; i < records.length; i++) {
        if (this.isLive(records[i], now)) {
          tombstones += Number(records[i].removed);
          records[kept++] = records[i];
        } else this.digestIndex.remove(key, records[i]);
      }
      if (kept !== records.length) this.addrIndex.delete(key);
      freed += records.length - kept;
      this.held -= records.length - kept;
      held += kept;
      if (kept === 0) this.byInfoHash.delete(key);
      else records.length = kept;
    }
    if (freed > 0) this.version++;
    // The sweep sees every record: the incremental count is recounted here.
    this.heldTombstones = tombstones;
    this.digestIndex.prune(now - this.options.ttlMs);
    // A mutation path that forgot the digest index shows up here, and is healed.
    if (held !== this.digestIndex.size) {
      this.digestRebuilds++;
      this.digestIndex.clear();
      for (const [key, records] of this.byInfoHash)
        for (const r of records) this.digestIndex.add(key, r);
      this.version++;
    }
    return freed;
  }

  /** Records held now, swept or not (what --max-records bounds). O(1). */
  get size(): number {
    return this.held;
  }

  /**
   * Counts of info hashes, providers and tombstones held. O(1), kept as records
   * come and go, since /metrics and Control.Status are open to anyone (a scan of
   * a million records took ~70 ms a call). Records that expired since the last
   * `sweep` are still counted until it frees them (the agent sweeps every
   * TTL/4, at most 10 s); `_now` is kept for callers that pass it.
   */
  stats(_now?: number): StoreStats {
    return {
      infoHashes: this.byInfoHash.size,
      providers: this.held - this.heldTombstones,
      tombstones: this.heldTombstones,
    };
  }

  /**
   * A digest of the records (live ones and tombstones) still live at `cutoff`:
   * deterministic across stores holding the same such records. Pass a cutoff a
   * little ahead of `now` (see `digestCutoff`) so records about to expire are
   * left out on every replica alike. The last digest is cached until the store
   * changes, so repeated anti-entropy rounds cost O(1) in steady state.
   */
  digest(cutoff: number, buckets: number): StoreDigest {
    const c = this.digestCache;
    if (
      c !== undefined &&
      c.version === this.version &&
      c.buckets === buckets &&
      c.digest.cutoff === cutoff
    ) {
      return c.digest;
    }
    const digest = this.digestIndex.digest(
      cutoff,
      buckets,
      this.options.ttlMs,
      (key, r) => this.get(key, r.addr) === r,
    );
    this.digestCache = { version: this.version, buckets, digest };
    return digest;
  }

  /**
   * Records live at `cutoff` whose info hashes fall in `wanted` buckets, at most
   * `max` of them (whole info hashes at a time where possible). `more` is set
   * when some were left out.
   */
  recordsInBuckets(
    wanted: ReadonlySet<number>,
    buckets: number,
    cutoff: number,
    max: number,
  ): { sets: { key: InfoHashKey; records: ProviderRecord[] }[]; more: boolean } {
    const sets: { key: InfoHashKey; records: ProviderRecord[] }[] = [];
    let count = 0;
    const ttl = this.options.ttlMs;
    for (const [key, records] of this.byInfoHash) {
      if (!wanted.has(bucketOf(key, buckets))) continue;
      const kept = records.filter((r) => r.lastSeen + ttl > cutoff);
      if (kept.length === 0) continue;
      if (count + kept.length > max) {
        const room = max - count;
        if (room > 0) sets.push({ key, records: kept.slice(0, room) });
        return { sets, more: true };
      }
      sets.push({ key, records: kept });
      count += kept.length;
    }
    return { sets, more: false };
  }

  private refuse(reason: RefusalReason): RefusalReason {
    this.counters.refused[reason]++;
    return reason;
  }

  private internOrigin(origin: string): string {
    const known = this.origins.get(origin);
    if (known !== undefined) return known;
    if (this.origins.size < MAX_INTERNED_ORIGINS) this.origins.set(origin, origin);
    return origin;
  }
}

/** compareRecords, then the addr: a total order over the records of one info hash. */
function byAge(a: ProviderRecord, b: ProviderRecord): number {
  return compareRecords(a, b) || (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0);
}

/**
 * Which record a full info hash gives up for `incoming`, or -1 to refuse it.
 * With `incoming` counted in, each record ranks by how many newer records its
 * host holds there (0 for a host's newest); the worst-ranked goes, the oldest on
 * a tie — so the host holding the most loses its oldest, and among hosts of one
 * record each the oldest overall goes (the old rule). When that is `incoming`
 * itself, it is refused. Ranks only grow as records arrive and the one removed
 * is always its host's oldest, so replicas holding the same records keep the
 * same ones whatever the order they came in. O(records), only at the cap.
 */
function evictionVictim(records: ProviderRecord[], incoming: ProviderRecord): number {
  const INCOMING = records.length;
  const at = (i: number): ProviderRecord => (i === INCOMING ? incoming : records[i]);
  const byHost = new Map<string, number[]>();
  for (let i = 0; i <= INCOMING; i++) {
    const h = hostKeyOf(at(i).addr);
    const list = byHost.get(h);
    if (list === undefined) byHost.set(h, [i]);
    else list.push(i);
  }
  let victim = -1;
  let victimRank = -1;
  for (const list of byHost.values()) {
    // A host's worst record is its oldest, ranked (its count − 1).
    let oldest = list[0];
    for (const i of list) if (byAge(at(i), at(oldest)) < 0) oldest = i;
    const rank = list.length - 1;
    if (rank > victimRank || (rank === victimRank && byAge(at(oldest), at(victim)) < 0)) {
      victim = oldest;
      victimRank = rank;
    }
  }
  return victim === INCOMING ? -1 : victim;
}

function newestFirst(a: ProviderRecord, b: ProviderRecord): number {
  if (a.lastSeen !== b.lastSeen) return b.lastSeen - a.lastSeen;
  return a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0;
}
