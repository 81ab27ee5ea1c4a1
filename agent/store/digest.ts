import type { InfoHashKey } from './infohash.js';
import type { ProviderRecord } from './record.js';

/**
 * Deterministic digests of a Store, for anti-entropy and `btctl convergence`.
 * Pure: no clock, no I/O. Two stores holding the same records live at `cutoff`
 * produce the same digest whatever order the records arrived in, because each
 * bucket hash is an XOR (commutative, associative) of per-record hashes.
 */

/** Default number of buckets: 256, i.e. the first byte of the info hash. */
export const DEFAULT_DIGEST_BUCKETS = 256;
/** Most buckets allowed: 4096 (the first 12 bits), 32 KiB of hashes on the wire. */
export const MAX_DIGEST_BUCKETS = 4096;

/** A digest of the records live at `cutoff`, split into buckets by info hash prefix. */
export interface StoreDigest {
  readonly cutoff: number;
  /** One 64-bit hash per bucket, as 16 lowercase hex digits ("0000000000000000" = empty). */
  readonly bucketHashes: readonly string[];
  /** Records per bucket. */
  readonly bucketCounts: readonly number[];
  /** Hash over the bucket hashes; EMPTY_HASH when there are no records. */
  readonly root: string;
  /** Records hashed. */
  readonly records: number;
}

/** The hash of nothing. */
export const EMPTY_HASH = '0000000000000000';

/** Whether `n` is an allowed bucket count (a power of two, 1..MAX_DIGEST_BUCKETS). */
export function validBucketCount(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= MAX_DIGEST_BUCKETS && (n & (n - 1)) === 0;
}

/** The bucket of an info hash key (lowercase hex): its leading log2(buckets) bits. */
export function bucketOf(key: InfoHashKey, buckets: number): number {
  if (buckets === 1) return 0;
  // 12 bits at most = 3 hex digits.
  const lead = parseInt(key.slice(0, 3), 16);
  const bits = 31 - Math.clz32(buckets);
  return lead >>> (12 - bits);
}

/**
 * 64-bit hash of a string as two 32-bit lanes (a cyrb53-style mix; not
 * cryptographic: digests detect divergence between honest replicas).
 */
export function hash64(text: string): [number, number] {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return [h1 >>> 0, h2 >>> 0];
}

/** The hash of one record: every field that the merge order looks at. */
export function recordHash(key: InfoHashKey, r: ProviderRecord): [number, number] {
  return hash64(
    `${key}\u0000${r.addr}\u0000${r.lastSeen}\u0000${r.removed ? 1 : 0}\u0000${r.origin}\u0000${r.peerId}\u0000${r.left}`,
  );
}

/** 16 hex digits of a two-lane hash. */
export function hex64(hi: number, lo: number): string {
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

/**
 * Builds a digest from (key, record) pairs already filtered to those live at
 * `cutoff`. Bucket hash = XOR of record hashes; root = hash of the bucket list
 * (EMPTY_HASH when no record at all).
 */
export function buildDigest(
  entries: Iterable<[InfoHashKey, readonly ProviderRecord[]]>,
  cutoff: number,
  buckets: number,
): StoreDigest {
  const hi = new Uint32Array(buckets);
  const lo = new Uint32Array(buckets);
  const counts = new Array<number>(buckets).fill(0);
  let records = 0;
  for (const [key, list] of entries) {
    const b = bucketOf(key, buckets);
    for (const r of list) {
      const [h1, h2] = recordHash(key, r);
      hi[b] ^= h1;
      lo[b] ^= h2;
      counts[b]++;
      records++;
    }
  }
  if (records === 0) return emptyDigest(cutoff, buckets);
  const bucketHashes: string[] = [];
  for (let b = 0; b < buckets; b++) bucketHashes.push(hex64(hi[b], lo[b]));
  let root = EMPTY_HASH;
  if (records > 0) {
    const [h1, h2] = hash64(`${buckets}:${bucketHashes.join('')}`);
    root = hex64(h1, h2);
    // EMPTY_HASH is reserved for "no records".
    if (root === EMPTY_HASH) root = '0000000000000001';
  }
  return { cutoff, bucketHashes, bucketCounts: counts, root, records };
}

const emptyBuckets = new Map<number, { hashes: readonly string[]; counts: readonly number[] }>();

/** The digest of an empty store; its bucket lists are shared (an idle agent syncs often). */
export function emptyDigest(cutoff: number, buckets: number): StoreDigest {
  let e = emptyBuckets.get(buckets);
  if (e === undefined) {
    e = {
      hashes: Object.freeze(new Array<string>(buckets).fill(EMPTY_HASH)),
      counts: Object.freeze(new Array<number>(buckets).fill(0)),
    };
    emptyBuckets.set(buckets, e);
  }
  return { cutoff, bucketHashes: e.hashes, bucketCounts: e.counts, root: EMPTY_HASH, records: 0 };
}

/** Buckets whose hashes differ between two digests of the same bucket count. */
export function differingBuckets(a: readonly string[], b: readonly string[]): number[] {
  const out: number[] = [];
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) out.push(i);
  return out;
}

/**
 * The cutoff an agent proposes for a digest at `now`: `marginMs` ahead (records
 * that expire sooner are left out on both sides, so a sweep on one side and not
 * yet on the other cannot make equal replicas differ), rounded up to `alignMs`
 * so that digests computed within the same window are the same cached value.
 */
export function digestCutoff(now: number, marginMs: number, alignMs: number): number {
  return Math.ceil((now + marginMs) / alignMs) * alignMs;
}
