import fc from 'fast-check';
import { buildDigest } from './digest.js';
import type { ProviderRecord } from './record.js';
import { Store } from './store.js';

/**
 * The incremental digest (DigestIndex, kept by the Store) must equal a digest
 * built from scratch over the records live at the cutoff, whatever mix of new
 * records, replacements, evictions (provider limit) and sweeps came before.
 */

const NOW = 1_800_000_000_000;
const TTL = 60_000;
const KEYS = ['00', '0f', '7a', 'ff', 'a5'].map((p) => p.repeat(20));

const opArb = fc.oneof(
  fc.record({
    kind: fc.constant('merge' as const),
    key: fc.constantFrom(...KEYS),
    addr: fc.integer({ min: 1, max: 6 }).map((i) => `10.0.0.${i}:6881`),
    age: fc.integer({ min: 0, max: 70_000 }),
    removed: fc.boolean(),
    left: fc.nat(3),
  }),
  fc.record({ kind: fc.constant('sweep' as const), at: fc.integer({ min: 0, max: 40_000 }) }),
);

function scratch(store: Store, cutoff: number, buckets: number) {
  const entries: [string, ProviderRecord[]][] = [];
  for (const key of store.keys()) {
    const kept = store.records(key, 0).filter((r) => r.lastSeen + TTL > cutoff);
    if (kept.length > 0) entries.push([key, kept]);
  }
  return buildDigest(entries, cutoff, buckets);
}

describe('the Store digest kept incrementally', () => {
  it('equals the digest built from scratch, at any cutoff and bucket count', () => {
    fc.assert(
      fc.property(
        fc.array(opArb, { maxLength: 60 }),
        fc.integer({ min: 0, max: 80_000 }),
        fc.constantFrom(1, 2, 16, 256, 4096),
        (ops, ahead, buckets) => {
          // A provider limit of 4 makes evictions happen too.
          const store = new Store({ ttlMs: TTL, maxProvidersPerInfoHash: 4 });
          for (const op of ops) {
            if (op.kind === 'sweep') store.sweep(NOW + op.at);
            else
              store.merge(
                op.key,
                {
                  addr: op.addr,
                  peerId: '',
                  left: op.left,
                  lastSeen: NOW - op.age,
                  origin: 'n1',
                  removed: op.removed,
                },
                NOW - op.age,
              );
          }
          const cutoff = NOW - TTL + ahead;
          const got = store.digest(cutoff, buckets);
          const want = scratch(store, cutoff, buckets);
          expect(got.root).toBe(want.root);
          expect(got.records).toBe(want.records);
          expect([...got.bucketHashes]).toEqual([...want.bucketHashes]);
          expect([...got.bucketCounts]).toEqual([...want.bucketCounts]);
          expect(store.digestRebuilds).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });
});
