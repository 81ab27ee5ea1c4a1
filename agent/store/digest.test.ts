import fc from 'fast-check';
import {
  bucketOf,
  differingBuckets,
  digestCutoff,
  EMPTY_HASH,
  validBucketCount,
} from './digest.js';
import type { ProviderRecord } from './record.js';
import { Store } from './store.js';

const NOW = 1_800_000_000_000;
const TTL = 90_000;

const entryArb = fc.record({
  key: fc.constantFrom('00'.repeat(20), 'aa'.repeat(20), 'ff'.repeat(20), '7f'.repeat(32)),
  record: fc.record({
    addr: fc.constantFrom('10.0.0.1:6881', '10.0.0.2:6881', 'seed.example:51413'),
    peerId: fc.constantFrom('', '-AA0001-aaaaaaaaaaaa'),
    left: fc.nat(1000),
    lastSeen: fc.integer({ min: NOW - 80_000, max: NOW }),
    origin: fc.constantFrom('', 'node-a', 'node-b'),
    removed: fc.boolean(),
  }),
});

function storeOf(entries: { key: string; record: ProviderRecord }[], now = NOW): Store {
  const s = new Store({ ttlMs: TTL });
  for (const e of entries) s.merge(e.key, e.record, now);
  return s;
}

describe('Store.digest', () => {
  it('is the same for any order of the same records', () => {
    fc.assert(
      fc.property(fc.array(entryArb, { maxLength: 40 }), (entries) => {
        const cutoff = digestCutoff(NOW, 2000, 1000);
        const a = storeOf(entries).digest(cutoff, 16);
        const b = storeOf([...entries].reverse()).digest(cutoff, 16);
        expect(b).toEqual(a);
      }),
    );
  });

  it('differs when one replica lacks a record, in exactly that record’s bucket', () => {
    fc.assert(
      fc.property(fc.array(entryArb, { minLength: 1, maxLength: 40 }), (entries) => {
        const full = storeOf(entries);
        const cutoff = NOW + 1000;
        // Drop the record that won for the first (key, addr): the stores then differ.
        const { key, record } = entries[0];
        const winner = full.get(key, record.addr)!;
        const partial = storeOf(
          entries.filter((e) => !(e.key === key && e.record.addr === record.addr)),
        );
        const da = full.digest(cutoff, 256);
        const db = partial.digest(cutoff, 256);
        expect(da.root).not.toEqual(db.root);
        expect(differingBuckets(da.bucketHashes, db.bucketHashes)).toEqual([bucketOf(key, 256)]);
        expect(da.records - db.records).toBe(1);
        expect(winner).toBeDefined();
      }),
    );
  });

  it('ignores records that expire before the cutoff, so a sweep on one side only does not matter', () => {
    const key = 'ab'.repeat(20);
    const old: ProviderRecord = {
      addr: '10.0.0.9:1',
      peerId: '',
      left: 0,
      lastSeen: NOW - TTL + 500, // expires 500 ms after NOW
      origin: 'x',
      removed: false,
    };
    const fresh: ProviderRecord = { ...old, addr: '10.0.0.8:1', lastSeen: NOW };
    const a = new Store({ ttlMs: TTL });
    a.merge(key, old, NOW);
    a.merge(key, fresh, NOW);
    const b = new Store({ ttlMs: TTL });
    b.merge(key, fresh, NOW);
    const cutoff = digestCutoff(NOW, 2000, 1000);
    expect(a.digest(cutoff, 256)).toEqual(b.digest(cutoff, 256));
    a.sweep(NOW + 1000);
    expect(a.digest(cutoff, 256)).toEqual(b.digest(cutoff, 256));
  });

  it('is EMPTY_HASH for no records and caches until the store changes', () => {
    const s = new Store({ ttlMs: TTL });
    expect(s.digest(NOW, 256).root).toBe(EMPTY_HASH);
    s.merge('aa'.repeat(20), { ...entryArbSample(), lastSeen: NOW }, NOW);
    const d1 = s.digest(NOW, 256);
    expect(d1.root).not.toBe(EMPTY_HASH);
    expect(s.digest(NOW, 256)).toBe(d1);
    s.merge('aa'.repeat(20), { ...entryArbSample(), lastSeen: NOW + 1 }, NOW);
    expect(s.digest(NOW, 256)).not.toBe(d1);
  });

  it('returns records of the wanted buckets only, bounded', () => {
    const s = new Store({ ttlMs: TTL });
    for (let i = 0; i < 16; i++) {
      const key = i.toString(16).repeat(40);
      for (let j = 0; j < 3; j++)
        s.merge(key, { ...entryArbSample(), addr: `10.0.0.${j}:1`, lastSeen: NOW }, NOW);
    }
    const got = s.recordsInBuckets(new Set([bucketOf('a'.repeat(40), 16)]), 16, NOW, 100);
    expect(got.sets.map((x) => x.key)).toEqual(['a'.repeat(40)]);
    expect(got.sets[0].records).toHaveLength(3);
    const bounded = s.recordsInBuckets(new Set([0, 1, 2, 3]), 16, NOW, 5);
    expect(bounded.more).toBe(true);
    expect(bounded.sets.reduce((n, x) => n + x.records.length, 0)).toBe(5);
  });

  it('accepts only powers of two up to 4096 buckets', () => {
    expect([1, 2, 256, 4096].every(validBucketCount)).toBe(true);
    expect([0, 3, 255, 8192, 1.5].some(validBucketCount)).toBe(false);
    expect(bucketOf('ff'.repeat(20), 4096)).toBe(4095);
    expect(bucketOf('ff'.repeat(20), 2)).toBe(1);
    expect(bucketOf('7f'.repeat(20), 2)).toBe(0);
  });
});

function entryArbSample(): ProviderRecord {
  return { addr: '10.0.0.1:6881', peerId: '', left: 0, lastSeen: NOW, origin: 'n', removed: false };
}
