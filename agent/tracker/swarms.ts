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
import { compactPeer, compactV6, encodeCompactReply, PEER_V4, PEER_V6 } from './compact.js';
import { newestFirst, type Swarm } from './pick.js';

/** Whether `a` sorts before `b` oldest first (the reverse of newest first). */
function before(a: ProviderRecord, b: ProviderRecord): boolean {
  return newestFirst(a, b) > 0;
}

// Per-slot flags.
/** Superseded, evicted, or gone from the Store: not current. */
const STALE = 1;
/** Not a tombstone: counted. */
const LIVE = 2;
/** Live with left = 0: counted as complete. */
const SEED = 4;
/** May be handed out: live and with a peer id. */
const PEER = 8;
/** Its 6 compact bytes are in `v4`. */
const V4 = 16;
/** An IPv6 peer (its 18 compact bytes are made from the addr when handed out). */
const V6 = 32;

/**
 * One info hash's records, oldest first, in slots head…length-1 of parallel
 * arrays: what an announce reads (time, flags, the 6-byte compact form) lies
 * contiguous in memory, so picking `want` peers touches no record object.
 */
export class SwarmView {
  /** addr → slot of the record the Store holds for it (live or tombstone). */
  private readonly current = new Map<string, number>();
  private records: (ProviderRecord | undefined)[] = [];
  private lastSeen = new Float64Array(0);
  private flags = new Uint8Array(0);
  private v4 = Buffer.alloc(0);
  private head = 0;
  private length = 0;
  /** Slots between head and length that are STALE. */
  private stale = 0;
  /** Live records with left = 0 / left > 0. */
  complete = 0;
  incomplete = 0;
  /** Last time an announce read the view (ms). */
  lastUsed: number;

  /** From the Store's unexpired records of the info hash (any order). */
  constructor(records: ProviderRecord[], now: number) {
    records.sort((a, b) => newestFirst(b, a));
    this.resize(Math.max(16, records.length * 2));
    for (const r of records) this.append(r);
    this.lastUsed = now;
  }

  private count(f: number, delta: number): void {
    if ((f & LIVE) === 0) return;
    if ((f & SEED) !== 0) this.complete += delta;
    else this.incomplete += delta;
  }

  /** Writes `r` into `slot` and makes it current for its addr. */
  private place(slot: number, r: ProviderRecord): void {
    this.records[slot] = r;
    this.lastSeen[slot] = r.lastSeen;
    let f = 0;
    if (!r.removed) {
      f |= LIVE;
      if (r.left === 0) f |= SEED;
      if (r.peerId !== '') f |= PEER;
    }
    const kind = compactPeer(r.addr, this.v4, slot * 6);
    if (kind === PEER_V4) f |= V4;
    else if (kind === PEER_V6) f |= V6;
    this.flags[slot] = f;
    this.current.set(r.addr, slot);
    this.count(f, 1);
  }

  private append(r: ProviderRecord): void {
    if (this.length === this.flags.length) this.compact(1);
    this.place(this.length++, r);
  }

  /** Moves slot `from` to `to` (the record keeps its flags and compact bytes). */
  private move(from: number, to: number): void {
    const r = this.records[from];
    this.records[to] = r;
    this.lastSeen[to] = this.lastSeen[from];
    this.flags[to] = this.flags[from];
    this.v4.copy(this.v4, to * 6, from * 6, from * 6 + 6);
    if ((this.flags[to] & STALE) === 0 && r !== undefined) this.current.set(r.addr, to);
  }

  private resize(capacity: number): void {
    const records: (ProviderRecord | undefined)[] = new Array<ProviderRecord | undefined>(capacity);
    const lastSeen = new Float64Array(capacity);
    const flags = new Uint8Array(capacity);
    const v4 = Buffer.alloc(capacity * 6);
    let k = 0;
    for (let i = this.head; i < this.length; i++) {
      if ((this.flags[i] & STALE) !== 0) continue;
      const r = this.records[i];
      records[k] = r;
      lastSeen[k] = this.lastSeen[i];
      flags[k] = this.flags[i];
      this.v4.copy(v4, k * 6, i * 6, i * 6 + 6);
      if (r !== undefined) this.current.set(r.addr, k);
      k++;
    }
    this.records = records;
    this.lastSeen = lastSeen;
    this.flags = flags;
    this.v4 = v4;
    this.head = 0;
    this.length = k;
    this.stale = 0;
  }

  /** Drops the stale slots, keeping room for `extra` more (at least doubling when full). */
  private compact(extra: number): void {
    const live = this.length - this.head - this.stale;
    this.resize(Math.max(16, (live + extra) * 2));
  }

  /** Drops what has expired at `now` (the Store's rule: lastSeen + ttl ≤ now). */
  expire(now: number, ttlMs: number): void {
    while (this.head < this.length && this.lastSeen[this.head] + ttlMs <= now) {
      const f = this.flags[this.head];
      if ((f & STALE) === 0) {
        this.current.delete(this.records[this.head]!.addr);
        this.count(f, -1);
      } else this.stale--;
      this.records[this.head] = undefined;
      this.head++;
    }
    if (this.head > 64 && this.head * 2 > this.length) this.compact(0);
  }

  /** The Store now holds `r` for its addr. */
  applied(r: ProviderRecord): void {
    const old = this.current.get(r.addr);
    if (old !== undefined) {
      this.flags[old] |= STALE;
      this.count(this.flags[old], -1);
      this.stale++;
    }
    if (this.length === this.flags.length) this.compact(1);
    // Usually the newest: appended. Otherwise moved back to its place.
    let i = this.length++;
    // Times from the contiguous array; the records themselves only on a tie.
    while (
      i > this.head &&
      (r.lastSeen < this.lastSeen[i - 1] ||
        (r.lastSeen === this.lastSeen[i - 1] && before(r, this.records[i - 1]!)))
    ) {
      this.move(i - 1, i);
      i--;
    }
    this.place(i, r);
    if (this.stale > 32 && this.stale * 2 > this.length - this.head) this.compact(0);
  }

  /**
   * The Store evicted its oldest record of this info hash (by compareRecords:
   * lastSeen first) without reporting it. Every current entry older than the
   * oldest one still in the Store is gone from it (evicted, or expired and swept):
   * forget them, through the ties of that oldest lastSeen.
   */
  evicted(key: InfoHashKey, store: Store): void {
    let oldestKept: number | undefined;
    for (let i = this.head; i < this.length; i++) {
      if (oldestKept !== undefined && this.lastSeen[i] > oldestKept) return;
      const f = this.flags[i];
      if ((f & STALE) !== 0) continue;
      const r = this.records[i]!;
      if (store.get(key, r.addr) === r) {
        oldestKept ??= r.lastSeen;
        continue;
      }
      this.current.delete(r.addr);
      this.count(f, -1);
      this.flags[i] |= STALE;
      this.stale++;
    }
  }

  /** Slots of up to `want` records to hand out, newest first (pickPeers's choice). */
  private select(want: number, exclude: string): number[] {
    const skip = this.current.get(exclude) ?? -1;
    const out: number[] = [];
    for (let i = this.length - 1; i >= this.head && out.length < want; i--) {
      if ((this.flags[i] & (STALE | PEER)) === PEER && i !== skip) out.push(i);
    }
    return out;
  }

  /** Counts and up to `want` records newest first, as pickPeers over the Store's records. */
  pick(want: number, exclude: string): Swarm {
    return {
      complete: this.complete,
      incomplete: this.incomplete,
      peers: this.select(want, exclude).map((i) => this.records[i]!),
    };
  }

  /**
   * The compact reply for `pick(want, exclude)`, as encodeCompactAnnounce over its
   * peers: the IPv4 peers' bytes copied from the view, no record read.
   */
  compactReply(
    times: { readonly interval: number; readonly minInterval: number },
    want: number,
    exclude: string,
  ): Buffer {
    const slots = this.select(want, exclude);
    let n4 = 0;
    let v6 = '';
    for (const i of slots) {
      const f = this.flags[i];
      if ((f & V4) !== 0) n4 += 6;
      else if ((f & V6) !== 0) v6 += compactV6(this.records[i]!.addr) ?? '';
    }
    const counts = { ...times, complete: this.complete, incomplete: this.incomplete };
    return encodeCompactReply(counts, n4, v6, (out, at) => {
      // Six bytes a peer: plain stores beat a Buffer.copy call apiece.
      const src = this.v4;
      for (const i of slots) {
        if ((this.flags[i] & V4) === 0) continue;
        const from = i * 6;
        out[at] = src[from];
        out[at + 1] = src[from + 1];
        out[at + 2] = src[from + 2];
        out[at + 3] = src[from + 3];
        out[at + 4] = src[from + 4];
        out[at + 5] = src[from + 5];
        at += 6;
      }
    });
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
   * The view of `key` at `now` (made from the Store's records on first use), or
   * undefined when the Store holds nothing for it. Its `pick` answers exactly as
   * pickPeers(store.records(key, now), …).
   */
  view(key: InfoHashKey, now: number): SwarmView | undefined {
    const ttl = this.store.options.ttlMs;
    let view = this.views.get(key);
    if (view === undefined) {
      const records = this.store.records(key, now);
      if (records.length === 0) return undefined;
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
    return view;
  }

  /**
   * Drops the views nobody asked about for a TTL (least recently used first), so that
   * a tracker whose clients went quiet does not hold their expired records.
   */
  sweep(now: number): void {
    const ttl = this.store.options.ttlMs;
    for (const [key, view] of this.views) {
      if (view.lastUsed + ttl >= now) break;
      this.views.delete(key);
    }
  }

  private dropOldest(): void {
    const oldest = this.views.keys().next();
    if (oldest.done !== true) this.views.delete(oldest.value);
  }
}
