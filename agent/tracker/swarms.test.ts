/**
 * The tracker's swarm views against the full scan they replace: after any
 * sequence of local announces, withdrawals, older records from other agents,
 * evictions from full info hashes, expiry, sweeps and time, a view answers exactly
 * what pickPeers over the Store's records answers.
 */
import fc from 'fast-check';
import { Replica } from '../replica.js';
import type { ProviderRecord } from '../store/record.js';
import { Store } from '../store/store.js';
import { encodeCompactAnnounce } from './compact.js';
import { pickPeers } from './pick.js';
import { SwarmViews } from './swarms.js';

const KEYS = ['aa'.repeat(20), 'bb'.repeat(20)];
const ADDRS = [
  ...Array.from({ length: 10 }, (_, i) => `10.0.0.${i + 1}:6881`),
  '[2001:db8::7]:51413',
  'seed.example:6881',
];
const TTL = 1000;

type Op =
  | { op: 'announce'; key: number; addr: number; peer: boolean; left: number; removed: boolean }
  | { op: 'remote'; key: number; addr: number; age: number; left: number; removed: boolean }
  | { op: 'tick'; ms: number }
  | { op: 'sweep' }
  | { op: 'query'; key: number; want: number; exclude: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant('announce' as const),
      key: fc.nat(1),
      addr: fc.nat(ADDRS.length - 1),
      peer: fc.nat(5).map((n) => n > 0),
      left: fc.constantFrom(0, 5),
      removed: fc.nat(6).map((n) => n === 0),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('remote' as const),
      key: fc.nat(1),
      addr: fc.nat(ADDRS.length - 1),
      age: fc.nat(1500),
      left: fc.constantFrom(0, 5),
      removed: fc.nat(6).map((n) => n === 0),
    }),
  },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('tick' as const), ms: fc.nat(400) }) },
  { weight: 1, arbitrary: fc.constant({ op: 'sweep' as const }) },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('query' as const),
      key: fc.nat(1),
      want: fc.integer({ min: -1, max: 10 }),
      exclude: fc.nat(ADDRS.length),
    }),
  },
);

function setup(maxProviders: number) {
  let now = 1_800_000_000_000;
  const store = new Store({ ttlMs: TTL, maxSkewMs: 100, maxProvidersPerInfoHash: maxProviders });
  const replica = new Replica(store, 'node-a', () => now);
  const views = new SwarmViews(store, { maxViews: 1 + Math.floor(maxProviders / 4) });
  replica.onChange((key, record) => views.applied(key, record));
  return { store, replica, views, tick: (ms: number) => (now += ms), now: () => now };
}

describe('SwarmViews', () => {
  it('answers as the full scan after any sequence of changes, expiry and evictions', () => {
    fc.assert(
      fc.property(
        fc.array(opArb, { minLength: 1, maxLength: 300 }),
        fc.constantFrom(4, 8, 1000),
        (ops, maxProviders) => {
          const { store, replica, views, tick, now } = setup(maxProviders);
          for (const o of ops) {
            if (o.op === 'announce') {
              const peerId = o.peer ? `-XX0001-${String(o.addr).padStart(12, '0')}` : '';
              replica.announce(
                KEYS[o.key],
                { addr: ADDRS[o.addr], peerId, left: o.left },
                o.removed,
              );
            } else if (o.op === 'remote') {
              const r: ProviderRecord = {
                addr: ADDRS[o.addr],
                peerId: '-YY0002-000000000000',
                left: o.left,
                lastSeen: now() - o.age,
                origin: 'node-b',
                removed: o.removed,
              };
              replica.mergeRemote(KEYS[o.key], r, 'node-b');
            } else if (o.op === 'tick') tick(o.ms);
            else if (o.op === 'sweep') replica.sweep();
            else {
              const key = KEYS[o.key];
              const exclude = ADDRS[o.exclude] ?? '';
              const expected = pickPeers(store.records(key, now()), o.want, exclude);
              const view = views.view(key, now());
              expect(view?.pick(o.want, exclude) ?? pickPeers([], o.want, exclude)).toEqual(
                expected,
              );
              if (view !== undefined) {
                const times = { interval: 30, minInterval: 15 };
                expect(view.compactReply(times, o.want, exclude)).toEqual(
                  encodeCompactAnnounce({ ...times, ...expected }, expected.peers),
                );
              }
            }
          }
          for (const key of KEYS) {
            expect(views.view(key, now())?.pick(20, '') ?? pickPeers([], 20, '')).toEqual(
              pickPeers(store.records(key, now()), 20, ''),
            );
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('keeps at most maxViews views and drops one left unused for a TTL', () => {
    const { replica, views, tick, now } = setup(1000);
    const keys = Array.from({ length: 5 }, (_, i) => String(i).repeat(40));
    for (const k of keys) {
      replica.announce(k, { addr: ADDRS[0], peerId: '-XX0001-000000000001', left: 0 });
      views.view(k, now());
    }
    expect(views.size).toBe(5);
    // With a smaller bound the oldest go first.
    const small = new SwarmViews(replica.store, { maxViews: 2 });
    for (const k of keys) small.view(k, now());
    expect(small.size).toBe(2);
    tick(TTL + 1);
    replica.announce(keys[4], { addr: ADDRS[1], peerId: '-XX0001-000000000002', left: 0 });
    small.view(keys[4], now());
    // keys[3]'s view was last used more than a TTL ago: dropped on this use.
    expect(small.size).toBe(1);
  });

  it('sweep frees the views nobody asked about for a TTL, and only those', () => {
    const { replica, views, tick, now } = setup(1000);
    const keys = Array.from({ length: 4 }, (_, i) => String(i).repeat(40));
    for (const k of keys) {
      replica.announce(k, { addr: ADDRS[0], peerId: '-XX0001-000000000001', left: 0 });
      views.view(k, now());
    }
    tick(TTL / 2);
    views.view(keys[1], now()); // used again: kept by the sweep below
    tick(TTL / 2 + 1);
    views.sweep(now());
    expect(views.size).toBe(1);
    tick(TTL);
    views.sweep(now());
    expect(views.size).toBe(0);
  });
});
