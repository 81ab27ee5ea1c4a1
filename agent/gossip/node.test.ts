import { infoHashKey, type InfoHashKey } from '../store/infohash.js';
import type { MemberUpdate } from '../membership/types.js';
import type { Envelope, Outbound, SyncBody } from './messages.js';
import { DEFAULT_GOSSIP_OPTIONS, type GossipNode, type GossipOptions } from './node.js';
import { Net } from '../../test/support/gossip-net.js';

const key = (n: number): InfoHashKey => infoHashKey(Buffer.alloc(20, n));
const has = (node: GossipNode, k: InfoHashKey, addr: string): boolean =>
  node.replica.lookup(k, 100).some((r) => r.addr === addr);

/** A sync message (`phase`, other fields as given) from `from` with nothing piggybacked. */
function syncFrom(from: GossipNode, body: Partial<SyncBody> & Pick<SyncBody, 'phase'>): Envelope {
  return {
    fromId: from.id,
    fromAddr: from.addr,
    members: [],
    records: [],
    body: {
      type: 'sync',
      cutoff: 0,
      buckets: DEFAULT_GOSSIP_OPTIONS.digestBuckets,
      root: '',
      membersRoot: '',
      bucketHashes: [],
      want: [],
      members: [],
      records: [],
      more: false,
      ...body,
    },
  };
}

/** Three agents that joined through the first. */
function cluster(options: Partial<GossipOptions> = {}): [Net, GossipNode, GossipNode, GossipNode] {
  const net = new Net();
  const a = net.add('a', options);
  const b = net.add('b', options, ['a']);
  const c = net.add('c', options, ['a']);
  net.run(3000);
  return [net, a, b, c];
}

describe('GossipNode', () => {
  it('agents that bootstrap through one agent all come to know each other', () => {
    const [, a, b, c] = cluster();
    for (const n of [a, b, c]) expect(n.membership.activeCount()).toBe(2);
    expect(b.membership.get('c')?.state).toBe('alive');
    expect(c.membership.get('b')?.state).toBe('alive');
  });

  it('pushes a new record at once (eager push), without waiting for a gossip round', () => {
    const [net, a, b, c] = cluster();
    net.announce(a, key(1), '10.0.0.1:6881');
    // No time has passed: the announce itself sent the record on.
    expect(has(b, key(1), '10.0.0.1:6881')).toBe(true);
    expect(has(c, key(1), '10.0.0.1:6881')).toBe(true);
  });

  it('does not send a record straight back to the agent it came from', () => {
    const net = new Net();
    const a = net.add('a');
    const b = net.add('b', {}, ['a']);
    net.run(3000);
    net.log.length = 0;
    net.announce(a, key(2), '10.0.0.2:6881');
    // a → b is the eager push; b's only other member is a, its source: no push back.
    const pushes = net.log.filter(([, , t]) => t === 'push');
    expect(pushes).toEqual([['a:6000', 'b:6000', 'push']]);
    expect(has(b, key(2), '10.0.0.2:6881')).toBe(true);
  });

  it('repairs lost pushes by anti-entropy', () => {
    const [net, a, b] = cluster({ syncIntervalMs: 1000 });
    // Every push (eager and periodic) is lost; only probes and syncs get through.
    net.drop = (_from, o) => o.env.body.type === 'push';
    net.announce(a, key(3), '10.0.0.3:6881');
    expect(has(b, key(3), '10.0.0.3:6881')).toBe(false);
    // The record also rides on probes, so lose records on everything but syncs.
    net.drop = (_from, o) => o.env.body.type !== 'sync' && o.env.records.length > 0;
    net.run(6000);
    expect(has(b, key(3), '10.0.0.3:6881')).toBe(true);
  });

  it('keeps its gossip queue within maxQueuedRecords under a burst', () => {
    const net = new Net();
    const a = net.add('a', { maxQueuedRecords: 50 });
    const b = net.add('b', {}, ['a']);
    net.run(3000);
    for (let i = 0; i < 1000; i++) {
      a.replica.announce(key(4), { addr: `10.0.${i >> 8}.${i & 255}:6881`, peerId: '', left: 1 });
      expect(a.queuedRecords).toBeLessThanOrEqual(50);
    }
    net.deliver(a.addr, a.drain());
    expect(b.replica.lookup(key(4), 2000).length).toBeGreaterThan(0);
  });

  it('stops retransmitting a record after its retransmit limit', () => {
    const [net, a] = cluster();
    net.announce(a, key(5), '10.0.0.5:6881');
    expect(a.queuedRecords).toBeGreaterThan(0);
    net.run(10_000);
    expect(a.queuedRecords).toBe(0);
  });

  it('turns a dead verdict about a third agent, heard in a member list, into a suspicion', () => {
    const net = new Net();
    const b = net.add('b');
    const c = net.add('c', {}, ['b']);
    net.run(3000);
    // a joins through b: its first tick starts a sync with b. b's phase-2 answer (built
    // here) lists c as dead — what b would say across a healed partition.
    const a = net.add('a', {}, ['b']);
    const start = a.tick(net.now + 10).find((o) => o.to === b.addr && o.env.body.type === 'sync');
    expect(start).toBeDefined();
    const cutoff = start!.env.body.type === 'sync' ? start!.env.body.cutoff : -1;
    const list: MemberUpdate[] = [
      { id: 'b', addr: b.addr, state: 'alive', incarnation: 1, reporter: 'b' },
      { id: 'c', addr: c.addr, state: 'dead', incarnation: 1, reporter: 'b' },
    ];
    a.receive(syncFrom(b, { phase: 2, cutoff, members: list }), net.now + 10);
    expect(a.membership.get('b')?.state).toBe('alive');
    // Hearsay: c gets the chance to refute instead of being dead at a.
    expect(a.membership.get('c')?.state).toBe('suspect');
  });

  it('a suspected agent refutes with a greater incarnation and tells its accuser at once', () => {
    const [net, a, b] = cluster();
    const before = b.membership.get('a')!.incarnation;
    const suspicion: MemberUpdate = {
      id: 'a',
      addr: a.addr,
      state: 'suspect',
      incarnation: a.membership.get('a')?.incarnation ?? before,
      reporter: 'b',
    };
    const out = a.receive(
      { fromId: 'b', fromAddr: b.addr, members: [suspicion], records: [], body: { type: 'push' } },
      net.now,
    );
    const toAccuser = out.filter((o) => o.to === b.addr);
    expect(toAccuser.length).toBeGreaterThan(0);
    const refutation = toAccuser
      .flatMap((o) => o.env.members)
      .find((u) => u.id === 'a' && u.state === 'alive');
    expect(refutation).toBeDefined();
    expect(refutation!.incarnation).toBeGreaterThan(suspicion.incarnation);
    net.deliver(a.addr, out);
    expect(b.membership.get('a')?.state).toBe('alive');
  });

  it('ignores a sync with an invalid bucket count and clamps a far-future cutoff', () => {
    const [net, a, b] = cluster();
    net.announce(a, key(6), '10.0.0.6:6881');
    const sync = (buckets: number, cutoff: number): Outbound[] =>
      a.receive(
        syncFrom(b, {
          phase: 1,
          cutoff,
          buckets,
          root: 'x',
          membersRoot: a.membership.membersRoot(),
        }),
        net.now,
      );
    expect(sync(3, net.now).filter((o) => o.env.body.type === 'sync')).toEqual([]);
    // A cutoff a year ahead would leave every record out of the digest if taken as is;
    // clamped, the reply's digest still covers a's record (a non-empty bucket).
    const reply = sync(16, net.now + 365 * 86_400_000).find((o) => o.env.body.type === 'sync');
    expect(reply).toBeDefined();
    const body = reply!.env.body;
    if (body.type !== 'sync') throw new Error('not a sync');
    expect(body.phase).toBe(2);
    expect(body.cutoff).toBeLessThan(net.now + 60_000);
    expect(body.bucketHashes.length).toBe(16);
  });

  it('a graceful leave reaches the others as left', () => {
    const [net, a, b, c] = cluster();
    net.deliver(c.addr, c.leave(net.now));
    expect(a.membership.get('c')?.state).toBe('left');
    expect(b.membership.get('c')?.state).toBe('left');
  });
});
