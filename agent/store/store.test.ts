import fc from 'fast-check';
import { compareRecords, hostKeyOf, type ProviderRecord } from './record.js';
import { Store, type StoreOptions } from './store.js';

const NOW = 1_800_000_000_000;
const KEY = 'aa'.repeat(20);

const recordArb = (now = NOW): fc.Arbitrary<ProviderRecord> =>
  fc.record({
    addr: fc.constantFrom('10.0.0.1:6881', '10.0.0.2:6881', '10.0.0.3:6881', 'seed.example:51413'),
    peerId: fc.constantFrom('', '-AA0001-aaaaaaaaaaaa', '-BB0001-bbbbbbbbbbbb'),
    left: fc.nat(1_000_000),
    lastSeen: fc.integer({ min: now - 60_000, max: now }),
    origin: fc.constantFrom('', 'node-a', 'node-b'),
    removed: fc.boolean(),
  });

/** The Store's full state for one key, in a canonical order. */
function state(store: Store, now = NOW): ProviderRecord[] {
  return store.records(KEY, now).sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
}

function storeOf(records: ProviderRecord[], options: Partial<StoreOptions> = {}): Store {
  const s = new Store(options);
  for (const r of records) s.merge(KEY, r, NOW);
  return s;
}

describe('Store merge is a CRDT', () => {
  it('is commutative: any order of the same records gives the same state', () => {
    fc.assert(
      fc.property(fc.array(recordArb(), { maxLength: 30 }), fc.nat(), (records, seed) => {
        const shuffled = [...records].sort((a, b) => ((compareRecords(a, b) + seed) % 3) - 1);
        expect(state(storeOf(shuffled))).toEqual(state(storeOf(records)));
        expect(state(storeOf([...records].reverse()))).toEqual(state(storeOf(records)));
      }),
    );
  });

  it('is associative: merging a merged replica equals merging everything at once', () => {
    fc.assert(
      fc.property(
        fc.array(recordArb()),
        fc.array(recordArb()),
        fc.array(recordArb()),
        (a, b, c) => {
          const ab = storeOf([...a, ...b]);
          const left = storeOf([...state(ab), ...c]);
          const bc = storeOf([...b, ...c]);
          const right = storeOf([...a, ...state(bc)]);
          expect(state(left)).toEqual(state(right));
        },
      ),
    );
  });

  it('is idempotent: merging records again changes nothing', () => {
    fc.assert(
      fc.property(fc.array(recordArb()), (records) => {
        const s = storeOf(records);
        const before = state(s);
        for (const r of records) expect(s.merge(KEY, r, NOW)).not.toBe('applied');
        expect(state(s)).toEqual(before);
      }),
    );
  });

  it('keeps, per addr, the greatest record (last writer wins, deterministic tie-break)', () => {
    fc.assert(
      fc.property(fc.array(recordArb(), { minLength: 1 }), (records) => {
        const s = storeOf(records);
        for (const kept of state(s)) {
          const same = records.filter((r) => r.addr === kept.addr);
          const max = same.reduce((m, r) => (compareRecords(r, m) > 0 ? r : m));
          expect(kept).toEqual(max);
        }
      }),
    );
  });

  it('lets a tombstone win a tie against a live record, in either order', () => {
    const live: ProviderRecord = {
      addr: '10.0.0.1:1',
      peerId: '',
      left: 0,
      lastSeen: NOW,
      origin: 'a',
      removed: false,
    };
    const dead = { ...live, removed: true };
    expect(state(storeOf([live, dead]))).toEqual([dead]);
    expect(state(storeOf([dead, live]))).toEqual([dead]);
    expect(new Store().lookup(KEY, 0, NOW)).toEqual([]);
  });
});

describe('Store lookup', () => {
  it('returns only live non-removed providers, newest first, cut to the limit', () => {
    fc.assert(
      fc.property(fc.array(recordArb()), fc.nat(6), (records, limit) => {
        const s = storeOf(records);
        const got = s.lookup(KEY, limit, NOW);
        const live = state(s).filter((r) => !r.removed);
        expect(got.length).toBe(limit === 0 ? live.length : Math.min(limit, live.length));
        for (const r of got) expect(r.removed).toBe(false);
        for (let i = 1; i < got.length; i++)
          expect(got[i - 1].lastSeen).toBeGreaterThanOrEqual(got[i].lastSeen);
      }),
    );
  });

  it('hides records once last_seen + ttl has passed, and sweep frees them', () => {
    const s = new Store({ ttlMs: 10_000 });
    s.merge(
      KEY,
      { addr: '10.0.0.1:1', peerId: '', left: 0, lastSeen: NOW, origin: '', removed: false },
      NOW,
    );
    s.merge(
      KEY,
      { addr: '10.0.0.2:1', peerId: '', left: 0, lastSeen: NOW - 5000, origin: '', removed: true },
      NOW,
    );
    expect(s.lookup(KEY, 0, NOW + 9_999).map((r) => r.addr)).toEqual(['10.0.0.1:1']);
    expect(s.stats(NOW + 1000)).toEqual({ infoHashes: 1, providers: 1, tombstones: 1 });
    expect(s.sweep(NOW + 5000)).toBe(1); // the tombstone expired first
    expect(s.lookup(KEY, 0, NOW + 10_000)).toEqual([]);
    expect(s.sweep(NOW + 10_000)).toBe(1);
    expect(s.stats(NOW + 10_000)).toEqual({ infoHashes: 0, providers: 0, tombstones: 0 });
  });

  it('refuses already expired records so late gossip cannot resurrect them', () => {
    const s = new Store({ ttlMs: 10_000 });
    const old = {
      addr: '10.0.0.1:1',
      peerId: '',
      left: 0,
      lastSeen: NOW - 10_000,
      origin: '',
      removed: false,
    };
    expect(s.merge(KEY, old, NOW)).toBe('expired');
    expect(s.counters.refused.expired).toBe(1);
    expect(s.lookup(KEY, 0, NOW)).toEqual([]);
  });
});

describe('Store clock skew', () => {
  it('clamps a last_seen beyond now + max skew to now and counts it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10 ** 12 }), (ahead) => {
        const s = new Store({ maxSkewMs: 30_000, ttlMs: 90_000 });
        const r = {
          addr: '10.0.0.1:1',
          peerId: '',
          left: 0,
          lastSeen: NOW + 30_000 + ahead,
          origin: '',
          removed: false,
        };
        expect(s.merge(KEY, r, NOW)).toBe('applied');
        expect(s.get(KEY, r.addr)?.lastSeen).toBe(NOW);
        expect(s.counters.clamped).toBe(1);
        // A clamped record still expires: the legacy defect of never-expiring records is gone.
        expect(s.lookup(KEY, 0, NOW + 90_000)).toEqual([]);
      }),
    );
  });

  it('keeps a last_seen within the skew as sent', () => {
    const s = new Store({ maxSkewMs: 30_000 });
    const r = {
      addr: '10.0.0.1:1',
      peerId: '',
      left: 0,
      lastSeen: NOW + 30_000,
      origin: '',
      removed: false,
    };
    s.merge(KEY, r, NOW);
    expect(s.get(KEY, r.addr)?.lastSeen).toBe(NOW + 30_000);
    expect(s.counters.clamped).toBe(0);
  });
});

describe('Store bounds', () => {
  const rec = (i: number, lastSeen: number): ProviderRecord => ({
    addr: `10.0.${i >> 8}.${i & 255}:6881`,
    peerId: '',
    left: 0,
    lastSeen,
    origin: '',
    removed: false,
  });

  it('evicts the oldest provider when an info hash is full, and refuses an older newcomer', () => {
    const s = new Store({ maxProvidersPerInfoHash: 3 });
    s.merge(KEY, rec(1, NOW - 3), NOW);
    s.merge(KEY, rec(2, NOW - 1), NOW);
    s.merge(KEY, rec(3, NOW - 2), NOW);
    expect(s.merge(KEY, rec(4, NOW), NOW)).toBe('applied');
    expect(s.lookup(KEY, 0, NOW).map((r) => r.addr)).toEqual([
      rec(4, 0).addr,
      rec(2, 0).addr,
      rec(3, 0).addr,
    ]);
    expect(s.counters.evicted).toBe(1);
    expect(s.merge(KEY, rec(5, NOW - 10), NOW)).toBe('provider_limit');
    expect(s.counters.refused.provider_limit).toBe(1);
  });

  it('never holds more than the bounds, whatever arrives', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(7), fc.nat(50), fc.nat(1000))), (ops) => {
        const s = new Store({ maxProvidersPerInfoHash: 5, maxInfoHashes: 3 });
        for (const [k, i, age] of ops) s.merge(String(k).repeat(40), rec(i, NOW - age), NOW);
        let keys = 0;
        for (const k of s.keys()) {
          keys++;
          expect(s.records(k, NOW).length).toBeLessThanOrEqual(5);
        }
        expect(keys).toBeLessThanOrEqual(3);
      }),
    );
  });

  it('refuses a new info hash past max_info_hashes but still updates known ones', () => {
    const s = new Store({ maxInfoHashes: 1 });
    expect(s.merge('a'.repeat(40), rec(1, NOW), NOW)).toBe('applied');
    expect(s.merge('b'.repeat(40), rec(1, NOW), NOW)).toBe('info_hash_limit');
    expect(s.merge('a'.repeat(40), rec(2, NOW), NOW)).toBe('applied');
    expect(s.counters.refused.info_hash_limit).toBe(1);
  });
});

describe('Store with many providers per info hash (addr index)', () => {
  it('keeps one record per addr and finds each, through eviction and sweeps', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            addr: fc.integer({ min: 0, max: 79 }).map((i) => `10.0.${i}.1:6881`),
            advance: fc.integer({ min: 0, max: 400 }),
            left: fc.nat(3),
            sweep: fc.integer({ min: 0, max: 19 }),
          }),
          { minLength: 100, maxLength: 400 },
        ),
        (ops) => {
          const store = new Store({ ttlMs: 20_000, maxProvidersPerInfoHash: 50 });
          let now = NOW;
          const latest = new Map<string, number>();
          for (const op of ops) {
            now += op.advance;
            const r = { addr: op.addr, peerId: '', left: op.left, lastSeen: now, origin: 'a' };
            if (store.merge(KEY, { ...r, removed: false }, now) === 'applied') {
              latest.set(op.addr, now);
            }
            if (op.sweep === 0) store.sweep(now);
          }
          const held = store.records(KEY, now);
          expect(new Set(held.map((r) => r.addr)).size).toBe(held.length);
          expect(held.length).toBeLessThanOrEqual(50);
          for (const r of held) {
            expect(store.get(KEY, r.addr)).toBe(r);
            expect(r.lastSeen).toBe(latest.get(r.addr));
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('Store record budget (max_records)', () => {
  const at = (i: number, lastSeen = NOW, removed = false): ProviderRecord => ({
    addr: `198.18.${i >> 8}.${i & 255}:6881`,
    peerId: '',
    left: 0,
    lastSeen,
    origin: 'node-a',
    removed,
  });

  it('refuses new records past the budget, in any info hash, and loses nothing held', () => {
    const s = new Store({ maxRecords: 3 });
    expect(s.merge(KEY, at(1), NOW)).toBe('applied');
    expect(s.merge(KEY, at(2), NOW)).toBe('applied');
    expect(s.merge('bb'.repeat(20), at(3), NOW)).toBe('applied');
    expect(s.merge(KEY, at(4), NOW)).toBe('record_limit');
    expect(s.merge('cc'.repeat(20), at(5), NOW)).toBe('record_limit');
    expect(s.counters.refused.record_limit).toBe(2);
    expect(s.size).toBe(3);
    expect([...s.keys()].sort()).toEqual([KEY, 'bb'.repeat(20)]);
    expect(s.lookup(KEY, 0, NOW).map((r) => r.addr)).toEqual([at(1).addr, at(2).addr]);
  });

  it('still applies refreshes and tombstones of held records at the budget', () => {
    const s = new Store({ maxRecords: 1 });
    s.merge(KEY, at(1), NOW);
    expect(s.merge(KEY, at(1, NOW + 1), NOW + 1)).toBe('applied');
    expect(s.merge(KEY, at(1, NOW + 2, true), NOW + 2)).toBe('applied');
    expect(s.lookup(KEY, 0, NOW + 2)).toEqual([]);
    expect(s.size).toBe(1);
  });

  it('frees room as the sweep frees records', () => {
    const s = new Store({ maxRecords: 2, ttlMs: 1000 });
    s.merge(KEY, at(1, NOW), NOW);
    s.merge(KEY, at(2, NOW), NOW);
    expect(s.merge(KEY, at(3, NOW), NOW)).toBe('record_limit');
    expect(s.sweep(NOW + 1000)).toBe(2);
    expect(s.size).toBe(0);
    expect(s.merge(KEY, at(3, NOW + 1000), NOW + 1000)).toBe('applied');
  });
});

describe('Store.stats', () => {
  it('keeps its counts as records are added, replaced, evicted and swept (O(1) reads)', () => {
    const s = new Store({ ttlMs: 10_000, maxProvidersPerInfoHash: 2 });
    const rec = (addr: string, lastSeen: number, removed = false) => ({
      addr,
      peerId: '',
      left: 0,
      lastSeen,
      origin: '',
      removed,
    });
    s.merge(KEY, rec('10.0.0.1:1', NOW), NOW);
    s.merge(KEY, rec('10.0.0.2:1', NOW), NOW);
    expect(s.stats()).toEqual({ infoHashes: 1, providers: 2, tombstones: 0 });
    s.merge(KEY, rec('10.0.0.1:1', NOW + 1, true), NOW + 1); // withdrawn
    expect(s.stats()).toEqual({ infoHashes: 1, providers: 1, tombstones: 1 });
    s.merge(KEY, rec('10.0.0.3:1', NOW + 2), NOW + 2); // evicts 10.0.0.2, the oldest
    expect(s.stats()).toEqual({ infoHashes: 1, providers: 1, tombstones: 1 });
    s.merge(KEY, rec('10.0.0.4:1', NOW + 3), NOW + 3); // evicts the tombstone
    expect(s.stats()).toEqual({ infoHashes: 1, providers: 2, tombstones: 0 });
    s.sweep(NOW + 20_000);
    expect(s.stats()).toEqual({ infoHashes: 0, providers: 0, tombstones: 0 });
  });
});

describe('Store eviction at the per-info-hash cap', () => {
  const at = (addr: string, lastSeen: number): ProviderRecord => ({
    addr,
    peerId: '',
    left: 0,
    lastSeen,
    origin: '',
    removed: false,
  });

  it('evicts from the host holding the most, not the oldest overall', () => {
    const s = new Store({ maxProvidersPerInfoHash: 4 });
    s.merge(KEY, at('198.18.0.1:1', NOW - 10), NOW); // the oldest, a host of its own
    s.merge(KEY, at('198.18.0.2:1', NOW - 9), NOW);
    s.merge(KEY, at('198.18.0.9:1', NOW - 5), NOW);
    s.merge(KEY, at('198.18.0.9:2', NOW - 4), NOW);
    // One host announcing port after port only displaces its own records.
    for (let port = 3; port < 100; port++) {
      expect(s.merge(KEY, at(`198.18.0.9:${port}`, NOW - 4 + port), NOW + port)).toBe('applied');
    }
    const held = s.lookup(KEY, 0, NOW + 100).map((r) => r.addr);
    expect(held).toHaveLength(4);
    expect(held).toEqual(expect.arrayContaining(['198.18.0.1:1', '198.18.0.2:1']));
    // A newcomer of a host of its own now displaces that host too, not the oldest.
    expect(s.merge(KEY, at('198.18.0.3:1', NOW + 100), NOW + 100)).toBe('applied');
    expect(s.lookup(KEY, 0, NOW + 100).map((r) => r.addr)).toEqual(
      expect.arrayContaining(['198.18.0.1:1', '198.18.0.2:1', '198.18.0.3:1']),
    );
  });

  it('refuses a newcomer that ranks no better than what it would displace', () => {
    const s = new Store({ maxProvidersPerInfoHash: 2 });
    s.merge(KEY, at('198.18.0.9:1', NOW), NOW);
    s.merge(KEY, at('198.18.0.9:2', NOW - 1), NOW);
    // An older record of the same host ranks last: refused.
    expect(s.merge(KEY, at('198.18.0.9:3', NOW - 2), NOW)).toBe('provider_limit');
  });

  it('chooses alike whatever order the records arrive in', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(fc.nat(3), fc.nat(5), fc.nat(100)), {
          selector: ([h, p]) => `${h}:${p}`,
          maxLength: 15,
        }),
        fc.nat(),
        (recs, seed) => {
          const records = recs.map(([h, p, t]) => at(`198.18.0.${h}:${p + 1}`, NOW - t));
          const shuffled = [...records].sort(
            (a, b) => ((a.lastSeen * 31 + seed) % 7) - ((b.lastSeen * 31 + seed) % 7),
          );
          const a = new Store({ maxProvidersPerInfoHash: 5 });
          const b = new Store({ maxProvidersPerInfoHash: 5 });
          for (const r of records) a.merge(KEY, r, NOW);
          for (const r of shuffled) b.merge(KEY, r, NOW);
          const held = (s: Store) =>
            s
              .records(KEY, NOW)
              .map((r) => r.addr)
              .sort();
          expect(held(a)).toEqual(held(b));
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('hostKeyOf', () => {
  it('is the host of host:port, and an IPv6 /64 whatever its text form', () => {
    expect(hostKeyOf('198.18.0.1:6881')).toBe('198.18.0.1');
    expect(hostKeyOf('Peer.Example:6881')).toBe('peer.example');
    expect(hostKeyOf('[2001:db8:0:1::5]:6881')).toBe(hostKeyOf('[2001:0db8:0000:0001:0:0:0:9]:1'));
    expect(hostKeyOf('[2001:db8:0:1::5]:6881')).not.toBe(hostKeyOf('[2001:db8:0:2::5]:6881'));
    expect(hostKeyOf('[::1]:6881')).toBe('0:0:0:0::/64');
  });
});
