import {
  EMPTY_HASH,
  MAX_DIGEST_BUCKETS,
  bucketOf,
  emptyDigest,
  hash64,
  hex64,
  recordHash,
  type StoreDigest,
} from './digest.js';
import type { InfoHashKey } from './infohash.js';
import type { ProviderRecord } from './record.js';

/**
 * The Store's digest kept up to date as records come and go, so that a digest
 * costs O(4096 + records about to expire) instead of hashing the whole store
 * (which took ~0.2 s for 100 000 records and, repeated by back-to-back repair,
 * starved the event loop). Per-record hashes are XORed into 4096 fine buckets
 * (the leading 12 bits of the info hash); any coarser digest folds them. The
 * records a cutoff leaves out (expiring before it but not yet swept) are found
 * through an index by last_seen second and XORed out of a copy. The result is
 * exactly `buildDigest`'s over the records live at the cutoff.
 */
export class DigestIndex {
  private readonly hi = new Uint32Array(MAX_DIGEST_BUCKETS);
  private readonly lo = new Uint32Array(MAX_DIGEST_BUCKETS);
  private readonly counts = new Uint32Array(MAX_DIGEST_BUCKETS);
  private total = 0;
  /** last_seen second → records added with it (entries of replaced records stay until pruned). */
  private readonly bySecond = new Map<number, { key: InfoHashKey; record: ProviderRecord }[]>();

  /** Records counted. */
  get size(): number {
    return this.total;
  }

  /** A record entered the store. */
  add(key: InfoHashKey, record: ProviderRecord): void {
    this.xor(key, record, 1);
    const s = Math.floor(record.lastSeen / 1000);
    const list = this.bySecond.get(s);
    if (list === undefined) this.bySecond.set(s, [{ key, record }]);
    else list.push({ key, record });
  }

  /** A record left the store (replaced, evicted or swept). */
  remove(key: InfoHashKey, record: ProviderRecord): void {
    this.xor(key, record, -1);
  }

  /** Forgets the last_seen index below `lastSeen` (those records are swept). */
  prune(lastSeen: number): void {
    const limit = Math.floor(lastSeen / 1000);
    for (const s of this.bySecond.keys()) if (s < limit) this.bySecond.delete(s);
  }

  /** Starts again from nothing (the Store then adds every record). */
  clear(): void {
    this.hi.fill(0);
    this.lo.fill(0);
    this.counts.fill(0);
    this.total = 0;
    this.bySecond.clear();
  }

  /**
   * The digest of the records live at `cutoff` (lastSeen + ttl > cutoff) in
   * `buckets` buckets. `held(key, record)` says whether the store still holds
   * that very record (the last_seen index keeps entries of replaced ones).
   */
  digest(
    cutoff: number,
    buckets: number,
    ttlMs: number,
    held: (key: InfoHashKey, record: ProviderRecord) => boolean,
  ): StoreDigest {
    const hi = new Uint32Array(buckets);
    const lo = new Uint32Array(buckets);
    const counts = new Array<number>(buckets).fill(0);
    const shift = 12 - (31 - Math.clz32(buckets));
    for (let f = 0; f < MAX_DIGEST_BUCKETS; f++) {
      const b = f >>> shift;
      hi[b] ^= this.hi[f];
      lo[b] ^= this.lo[f];
      counts[b] += this.counts[f];
    }
    let records = this.total;
    for (const [s, list] of this.bySecond) {
      if (s * 1000 + ttlMs > cutoff) continue; // every record of this second is still live
      for (const { key, record } of list) {
        if (record.lastSeen + ttlMs > cutoff || !held(key, record)) continue;
        const [h1, h2] = recordHash(key, record);
        const b = bucketOf(key, buckets);
        hi[b] ^= h1;
        lo[b] ^= h2;
        counts[b]--;
        records--;
      }
    }
    if (records === 0) return emptyDigest(cutoff, buckets);
    const bucketHashes: string[] = [];
    for (let b = 0; b < buckets; b++) bucketHashes.push(hex64(hi[b], lo[b]));
    const [h1, h2] = hash64(`${buckets}:${bucketHashes.join('')}`);
    let root = hex64(h1, h2);
    // EMPTY_HASH is reserved for "no records" (as in buildDigest).
    if (root === EMPTY_HASH) root = '0000000000000001';
    return { cutoff, bucketHashes, bucketCounts: counts, root, records };
  }

  private xor(key: InfoHashKey, record: ProviderRecord, delta: 1 | -1): void {
    const [h1, h2] = recordHash(key, record);
    const f = bucketOf(key, MAX_DIGEST_BUCKETS);
    this.hi[f] ^= h1;
    this.lo[f] ^= h2;
    this.counts[f] += delta;
    this.total += delta;
  }
}
