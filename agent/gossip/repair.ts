import { MAX_DIGEST_BUCKETS, hex64, recordHash } from '../store/digest.js';
import type { InfoHashKey } from '../store/infohash.js';
import type { ProviderRecord } from '../store/record.js';
import type { RecordSet } from './messages.js';

/**
 * Pieces of anti-entropy repair kept apart from the gossip node (all pure):
 * the per-second budget that bounds what repair may spend, the digest size
 * that grows with the store, and the record fingerprints of the version-2
 * exchange (only records that differ travel).
 */

/**
 * A token bucket of `perSec` units that refills continuously and holds at most
 * one second's worth. Spending may overdraw it (a message is not split for the
 * last few units); `waitMs` says how long until it is positive again.
 */
export class RepairBudget {
  private tokens: number;
  private at: number;

  constructor(
    readonly perSec: number,
    now: number,
  ) {
    this.tokens = perSec;
    this.at = now;
  }

  /** Units available at `now` (may be negative after an overdraft). */
  available(now: number): number {
    if (now > this.at) {
      this.tokens = Math.min(this.perSec, this.tokens + ((now - this.at) * this.perSec) / 1000);
      this.at = now;
    }
    return this.tokens;
  }

  /** Spends `n` units. */
  spend(n: number, now: number): void {
    this.available(now);
    this.tokens -= n;
  }

  /** Milliseconds until the bucket holds at least `need` units (0 if it does). */
  waitMs(now: number, need = 1): number {
    const have = this.available(now);
    return have >= need ? 0 : Math.ceil(((need - have) * 1000) / this.perSec);
  }
}

/**
 * Digest buckets for a store of `records`: the smallest power of two that keeps
 * about `perBucket` records in each, at least `min` (the configured count) and
 * at most MAX_DIGEST_BUCKETS. A few differing records then cost a few small
 * buckets' fingerprints, not hundreds of records each, whatever the store size
 * (Cassandra's repair splits its Merkle tree the same way).
 */
export function bucketsFor(records: number, perBucket: number, min: number): number {
  let b = min;
  while (b < MAX_DIGEST_BUCKETS && records / b > perBucket) b *= 2;
  return b;
}

/** A record's fingerprint: its digest hash (every field the merge order looks at). */
export function fingerprint(key: InfoHashKey, r: ProviderRecord): string {
  const [h1, h2] = recordHash(key, r);
  return hex64(h1, h2);
}

/** Fingerprints of every record of `sets`. */
export function fingerprintsOf(sets: readonly RecordSet[]): string[] {
  const out: string[] = [];
  for (const s of sets) for (const r of s.records) out.push(fingerprint(s.key, r));
  return out;
}

/**
 * The records of `sets` whose fingerprints `select` accepts, at most `max`;
 * `more` when some were left out.
 */
export function pickRecords(
  sets: readonly RecordSet[],
  select: (fp: string) => boolean,
  max: number,
): { sets: RecordSet[]; count: number; more: boolean } {
  const out: RecordSet[] = [];
  let count = 0;
  for (const s of sets) {
    let picked: ProviderRecord[] | undefined;
    for (const r of s.records) {
      if (!select(fingerprint(s.key, r))) continue;
      if (count >= max) {
        if (picked !== undefined) out.push({ key: s.key, records: picked });
        return { sets: out, count, more: true };
      }
      (picked ??= []).push(r);
      count++;
    }
    if (picked !== undefined) out.push({ key: s.key, records: picked });
  }
  return { sets: out, count, more: false };
}
