/**
 * The tracker's view of the swarms it serves: per info hash, the Store's records
 * in newest-first order with live seeder/leecher counts, kept up to date from the
 * Replica's change feed instead of scanning every record on every announce. A
 * scan touches each record (a cache miss apiece once the Store is large: ~20-35 µs
 * per announce at 200 records per info hash here); with the view an announce
 * reads only the `want` newest records, like bittorrent-tracker's O(numwant).
 *
 * Exact, not a cache: `pick` returns what `pickPeers(store.records(key, now), …)`
 * returns (property-tested). It holds because every change of a record reaches it
 * (all Store writes go through the Replica, which reports each applied record as
 * stored); expiry is by the same rule as the Store's (lastSeen + ttl ≤ now), applied
 * lazily from the oldest end; and the one change the feed does not report — the
 * Store evicting its oldest record of a full info hash — is detected from the
 * Store's eviction counter and looked up. Pure: time is a parameter.
 *
 * Bounded: views exist only for info hashes the tracker was asked about, at most
 * `maxViews` (least recently used dropped), and a view not asked about for a TTL
 * is dropped; a view holds at most the Store's records of its info hash plus
 * superseded entries, compacted when those outnumber the rest.
 */
import type { InfoHashKey } from '../store/infohash.js';
import type { ProviderRecord } from '../store/record.js';
import type { Store } from '../store/store.js';
import { newestFirst, pickPeers, type Swarm } from './pick.js';

/** Whether `a` sorts before `b` oldest first (the reverse of newest first). */
function before(a: ProviderRecord, b: ProviderRecord): boolean {
  return newestFirst(a, b) > 0;
}

/** One info hash's records, oldest first. */
class SwarmView {
  /** The record the Store holds per addr (live or tombstone) as far as the view knows. */
  readonly current = new Map<string, ProviderRecord>();
  /** Records oldest first (lastSeen ascending, then addr descending) from `head` on. */
  order: ProviderRecord[];
  head = 0;
  /** Entries in `order` that are no longer current (superseded). */
  stale = 0;
  complete = 0;
  incomplete = 0;
  /** Last time an announce read the view (ms). */
  lastUsed: number;

  constructor(records: ProviderRecord[], now: number) {
    records.sort((a, b) => newestFirst(b, a));
    this.order = records;
    for (const r of records) {
      this.current.set(r.addr, r);
      this.count(r, 1);
    }
    this.lastUsed = now;
  }

  count(r: ProviderRecord, delta: number): void {
    if (r.removed) return;
    if (r.left === 0) this.complete += delta;
    else this.incomplete += delta;
  }

  /** Drops what has expired at `now` (the Store's rule: lastSeen + ttl ≤ now). */
  expire(now: number, ttlMs: number): void {
    const order = this.order;
    while (this.head < order.length && order[this.head].lastSeen + ttlMs <= now) {
      const r = order[this.head++];
      if (this.current.get(r.addr) === r) {
        this.current.delete(r.addr);
        this.count(r, -1);
      } else this.stale--;
    }
    if (this.head > 64 && this.head * 2 > order.length) {
      this.order = order.slice(this.head);
      this.head = 0;
    }
  }

  /** The Store now holds `r` for its addr. */
  applied(r: ProviderRecord): void {
    const old = this.current.get(r.addr);
    if (old !== undefined) {
      this.count(old, -1);
      this.stale++;
    }
    this.current.set(r.addr, r);
    this.count(r, 1);
    // Usually the newest: appended. Otherwise moved back to its place.
    const order = this.order;
    let i = order.length;
    order.push(r);
    while (i > this.head && before(r, order[i - 1])) {
      order[i] = order[i - 1];
      i--;
    }
    order[i] = r;
    if (this.stale > 32 && this.stale * 2 > order.length - this.head) this.compact();
  }

  /**
   * The Store evicted its oldest record of this info hash (by compareRecords:
   * lastSeen first) without reporting it. Every current entry older than the
   * oldest one still in the Store is gone from it (evicted, or expired and swept):
   * forget them, through the ties of that oldest lastSeen.
   */
  evicted(key: InfoHashKey, store: Store): void {
    let oldestKept: number | undefined;
    for (let i = this.head; i < this.order.length; i++) {
      const r = this.order[i];
      if (oldestKept !== undefined && r.lastSeen > oldestKept) return;
      if (this.current.get(r.addr) !== r) continue;
      if (store.get(key, r.addr) === r) {
        oldestKept ??= r.lastSeen;
        continue;
      }
      this.current.delete(r.addr);
      this.count(r, -1);
      this.stale++;
    }
  }

  private compact(): void {
    const kept: ProviderRecord[] = [];
    for (let i = this.head; i < this.order.length; i++) {
      const r = this.order[i];
      if (this.current.get(r.addr) === r) kept.push(r);
    }
    this.order = kept;
    this.head = 0;
    this.stale = 0;
  }

  /** Up to `want` eligible records newest first (see pickPeers), with the counts. */
  pick(want: number, exclude: string): Swarm {
    const peers: ProviderRecord[] = [];
    for (let i = this.order.length - 1; i >= this.head && peers.length < want; i--) {
      const r = this.order[i];
      if (r.removed || r.peerId === '' || r.addr === exclude) continue;
      if (this.current.get(r.addr) === r) peers.push(r);
    }
    return { complete: this.complete, incomplete: this.incomplete, peers };
  }
}

/** Bounds of the views. */
export interface SwarmViewsOptions {
  /** Views kept; past it the least recently used is dropped. */
  readonly maxViews: number;
}

/** The tracker's views over one Store (see the module comment). */
export class SwarmViews {
  /** Least recently used first (Map order: re-inserted on use). */
  private readonly views = new Map<InfoHashKey, SwarmView>();
  private evictions: number;

  constructor(
    private readonly store: Store,
    private readonly options: SwarmViewsOptions = { maxViews: 65_536 },
  ) {
    this.evictions = store.counters.evicted;
  }

  /** Views held now. */
  get size(): number {
    return this.views.size;
  }

  /**
   * Feed of the Replica (`onChange`): `record` is what the Store now holds for
   * (key, record.addr).
   */
  applied(key: InfoHashKey, record: ProviderRecord): void {
    const evictions = this.store.counters.evicted;
    const evicted = evictions !== this.evictions;
    this.evictions = evictions;
    const view = this.views.get(key);
    if (view === undefined) return;
    // One merge evicts at most one record, of the info hash merged into.
    if (evicted) view.evicted(key, this.store);
    view.applied(record);
  }

  /**
   * Counts and up to `want` peers of `key` at `now`, exactly as
   * pickPeers(store.records(key, now), want, exclude).
   */
  pick(key: InfoHashKey, now: number, want: number, exclude: string): Swarm {
    const ttl = this.store.options.ttlMs;
    let view = this.views.get(key);
    if (view === undefined) {
      const records = this.store.records(key, now);
      // An unknown info hash (nothing stored) needs no view.
      if (records.length === 0) return pickPeers(records, want, exclude);
      view = new SwarmView(records, now);
      if (this.views.size >= this.options.maxViews) this.dropOldest();
    } else this.views.delete(key);
    this.views.set(key, view);
    view.lastUsed = now;
    view.expire(now, ttl);
    // A view nobody asked about for a TTL only holds on to expired records.
    const oldest = this.views.entries().next();
    if (oldest.done !== true && oldest.value[1].lastUsed + ttl < now) {
      this.views.delete(oldest.value[0]);
    }
    return view.pick(want, exclude);
  }

  private dropOldest(): void {
    const oldest = this.views.keys().next();
    if (oldest.done !== true) this.views.delete(oldest.value);
  }
}
