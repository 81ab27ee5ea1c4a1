import { infoHashKey, type InfoHashKey } from '../store/infohash.js';
import type { ProviderRecord } from '../store/record.js';
import type { Outbound, SyncBody } from './messages.js';
import type { GossipNode } from './node.js';
import { RepairBudget, bucketsFor } from './repair.js';
import { Net } from '../../test/support/gossip-net.js';

/**
 * Anti-entropy version 2 (issue 17): only differing records travel, exchanges
 * go on back-to-back while replicas differ, within the repair budget; records a
 * full gossip queue dropped are repaired at once; a previous-version agent still
 * converges with a new one; a joining agent knows when it holds everything.
 */

const key = (n: number): InfoHashKey => infoHashKey(Buffer.alloc(20, n % 256).fill(n >> 8, 0, 1));
const rec = (i: number, lastSeen: number): ProviderRecord => ({
  addr: `10.0.${(i >> 8) & 255}.${i & 255}:6881`,
  peerId: '',
  left: 0,
  lastSeen,
  origin: 'seed',
  removed: false,
});
/** Puts records straight into a store (no gossip): replicas that differ quietly. */
const seed = (node: GossipNode, from: number, to: number): void => {
  const now = node.replica.now();
  for (let i = from; i < to; i++) node.replica.store.merge(key(i), rec(i, now), now);
};
const rootOf = (node: GossipNode): string =>
  node.replica.store.digest(node.replica.now() + 5000, 256).root;
const syncRecords = (out: Outbound): number =>
  out.env.body.type === 'sync' ? out.env.body.records.reduce((n, s) => n + s.records.length, 0) : 0;

/** Strips what a previous-version agent does not know (unknown fields are dropped). */
const asV1 = (o: Outbound): Outbound => {
  if (o.env.body.type !== 'sync') return o;
  const body: SyncBody = { ...o.env.body, version: 0, fingerprints: [] };
  return { ...o, env: { ...o.env, body } };
};

describe('anti-entropy version 2', () => {
  it('sends only the records that differ, whatever the size of the store', () => {
    const net = new Net();
    const a = net.add('a', { syncIntervalMs: 1000 });
    const b = net.add('b', { syncIntervalMs: 1000 }, ['a']);
    net.run(2000);
    seed(a, 0, 20_000);
    seed(b, 0, 20_000);
    seed(a, 20_000, 20_003); // only at a
    seed(b, 30_000, 30_002); // only at b
    let sent = 0;
    net.observe = (_from, o) => (sent += syncRecords(o));
    net.run(3000);
    expect(rootOf(a)).toBe(rootOf(b));
    expect(a.replica.store.stats(net.now).providers).toBe(20_005);
    // 5 differing records; the 256-bucket digest sent whole buckets (~80 records each here).
    expect(sent).toBeLessThanOrEqual(10);
    expect(a.counters.repairFingerprintsSent + b.counters.repairFingerprintsSent).toBeLessThan(
      2000,
    );
  });

  it('repeats exchanges back-to-back while replicas differ, within the repair budget', () => {
    const net = new Net();
    const opts = { syncIntervalMs: 60_000, repairRecordsPerSec: 2000, maxSyncRecords: 5000 };
    const a = net.add('a', opts);
    const b = net.add('b', opts, ['a']);
    net.run(2000);
    seed(a, 0, 10_000);
    const sentAt: number[] = [];
    net.observe = (_from, o) => {
      if (syncRecords(o) > 0) sentAt.push(net.now);
    };
    // b joined long ago; one exchange starts the repair, then it goes on by itself.
    (b as unknown as { nextSyncAt: number }).nextSyncAt = net.now;
    net.run(3000);
    const half = b.replica.store.stats(net.now).providers;
    // 2000 records/s: after 3 s about 6000 (1 s of burst + 2 s of refill), not all 10 000.
    expect(half).toBeGreaterThan(4000);
    expect(half).toBeLessThanOrEqual(8000);
    net.run(4000);
    expect(rootOf(b)).toBe(rootOf(a));
    // Within 7 s — the regular interval is 60 s: the exchanges ran back-to-back.
    expect(sentAt.length).toBeGreaterThan(3);
  });

  it('repairs at once what a full gossip queue dropped', () => {
    const net = new Net();
    const opts = { syncIntervalMs: 60_000, maxQueuedRecords: 50 };
    const a = net.add('a', opts);
    net.add('b', opts, ['a']);
    const c = net.add('c', opts, ['a']);
    net.run(2000);
    // c hears no gossip at all: only anti-entropy can bring it the records.
    net.drop = (_from, o) => o.to === c.addr && o.env.body.type === 'push';
    for (let i = 0; i < 300; i++) {
      a.replica.announce(key(i), { addr: `10.1.0.${i % 250}:${7000 + i}`, peerId: '', left: 0 });
    }
    net.deliver(a.addr, a.drain());
    expect(a.counters.queueDropped).toBeGreaterThan(0);
    net.run(3000);
    expect(c.replica.store.stats(net.now).providers).toBe(300);
    expect(rootOf(c)).toBe(rootOf(a));
  });

  it('converges with an agent of the previous version, both ways', () => {
    const net = new Net();
    const a = net.add('a', { syncIntervalMs: 1000 });
    const old = net.add('o', { syncIntervalMs: 1000 }, ['a']);
    const deliver = net.deliver.bind(net);
    net.deliver = (from, out) =>
      deliver(
        from,
        out.map((o) => (from === old.addr || o.to === old.addr ? asV1(o) : o)),
      );
    net.run(2000);
    seed(a, 0, 500);
    seed(old, 1000, 1300);
    net.run(4000);
    expect(rootOf(a)).toBe(rootOf(old));
    expect(old.replica.store.stats(net.now).providers).toBe(800);
  });

  it('a joining agent is synced only once it pulled every record of its bootstrap', () => {
    const net = new Net();
    const a = net.add('a');
    seed(a, 0, 12_000); // more than one exchange carries (maxSyncRecords 5000)
    const b = net.add('b', {}, ['a']);
    expect(b.joinSynced).toBe(false);
    let syncedAt: number | undefined;
    for (let t = 0; t < 5000 && syncedAt === undefined; t += 10) {
      net.run(10);
      if (b.joinSynced) syncedAt = net.now;
    }
    expect(syncedAt).toBeDefined();
    expect(b.replica.store.stats(net.now).providers).toBe(12_000);
    // A lone agent (no bootstrap) is synced from the start.
    expect(net.add('c').joinSynced).toBe(true);
  });
});

describe('repair helpers', () => {
  it('the digest grows with the store, from the configured bucket count to 4096', () => {
    expect(bucketsFor(0, 32, 256)).toBe(256);
    expect(bucketsFor(100_000, 32, 256)).toBe(4096);
    expect(bucketsFor(20_000, 32, 256)).toBe(1024);
    expect(bucketsFor(10_000_000, 32, 256)).toBe(4096);
  });

  it('the budget refills at its rate and holds one second at most', () => {
    const b = new RepairBudget(1000, 0);
    expect(b.available(0)).toBe(1000);
    b.spend(1500, 0);
    expect(b.waitMs(0)).toBe(501);
    expect(b.available(1000)).toBe(500);
    expect(b.available(60_000)).toBe(1000);
  });
});
