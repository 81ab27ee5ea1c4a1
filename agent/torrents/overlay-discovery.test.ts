import { Replica } from '../replica.js';
import { Store } from '../store/store.js';
import type { PeerAddr } from '../torrent/peer-source.js';
import { discoveryTiming, OverlayDiscovery } from './overlay-discovery.js';

const KEY = 'ab'.repeat(20);
const TTL = 90_000;
const TOTAL = 10_000;

function setup(): {
  replica: Replica;
  d: OverlayDiscovery;
  found: PeerAddr[][];
  clock: { t: number };
} {
  const clock = { t: 1_000_000 };
  const replica = new Replica(new Store({ ttlMs: TTL }), 'me', () => clock.t);
  const found: PeerAddr[][] = [];
  const d = new OverlayDiscovery(
    replica,
    KEY,
    '10.0.0.1:6881',
    Buffer.from('-BO0100-abcdefghijkl'),
    discoveryTiming(TTL),
    (p) => found.push(p),
  );
  return { replica, d, found, clock };
}

const own = (r: Replica): { left: number } | undefined =>
  r.lookup(KEY, 100).find((p) => p.addr === '10.0.0.1:6881');

describe('OverlayDiscovery', () => {
  it('announces itself with the current left, re-announcing big steps and completion at once', () => {
    const { replica, d, clock } = setup();
    d.tick(clock.t, { active: true, left: 5000, total: TOTAL });
    expect(own(replica)).toMatchObject({ left: 5000, peerId: '-BO0100-abcdefghijkl' });
    clock.t += 1000;
    d.tick(clock.t, { active: true, left: 1000, total: TOTAL });
    expect(own(replica)?.left).toBe(1000);
    clock.t += 1000;
    d.tick(clock.t, { active: true, left: 0, total: TOTAL });
    expect(own(replica)?.left).toBe(0);
  });

  it('a slow download re-announces left about every 10 s, not every second', () => {
    const { replica, d, clock } = setup();
    const seen: number[] = [];
    // 1 % of the torrent per second, ticked each second like the manager does.
    for (let left = TOTAL; left > 0; left -= TOTAL / 100) {
      d.tick(clock.t, { active: true, left, total: TOTAL });
      const l = own(replica)!.left;
      if (seen.at(-1) !== l) seen.push(l);
      clock.t += 1000;
    }
    // 100 s of progress: the first announce, then one per 10 s (10 % also = 10 s here).
    expect(seen.length).toBeGreaterThanOrEqual(9);
    expect(seen.length).toBeLessThanOrEqual(11);
    expect(seen[0]).toBe(TOTAL);
    // Completion is announced on the very tick it happens.
    d.tick(clock.t, { active: true, left: 0, total: TOTAL });
    expect(own(replica)?.left).toBe(0);
  });

  it('re-announces an unchanged record well inside the TTL, so it never expires', () => {
    const { replica, d, clock } = setup();
    for (let s = 0; s < 400; s++) {
      d.tick(clock.t, { active: true, left: 0, total: TOTAL });
      expect(own(replica)).toBeDefined();
      clock.t += 1000;
    }
    expect(discoveryTiming(TTL).reannounceMs).toBeLessThanOrEqual(TTL / 3);
  });

  it('withdraws (tombstones) when inactive, and comes back when active again', () => {
    const { replica, d, clock } = setup();
    d.tick(clock.t, { active: true, left: 10, total: TOTAL });
    clock.t += 1000;
    d.tick(clock.t, { active: false, left: 10, total: TOTAL });
    expect(own(replica)).toBeUndefined();
    expect(replica.store.get(KEY, '10.0.0.1:6881')?.removed).toBe(true);
    clock.t += 1000;
    d.tick(clock.t, { active: true, left: 10, total: TOTAL });
    expect(own(replica)?.left).toBe(10);
  });

  it('hands other providers to the session, never itself; a seed only dials leechers', () => {
    const { replica, d, found, clock } = setup();
    replica.announce(KEY, { addr: '10.0.0.2:6881', peerId: '', left: 0 });
    replica.announce(KEY, { addr: '10.0.0.3:7000', peerId: '', left: 99 });
    d.tick(clock.t, { active: true, left: 50, total: TOTAL });
    expect(
      found
        .pop()!
        .map((p) => `${p.host}:${p.port}`)
        .sort(),
    ).toEqual(['10.0.0.2:6881', '10.0.0.3:7000']);
    // Looks again only after the lookup interval.
    clock.t += 500;
    d.tick(clock.t, { active: true, left: 50, total: TOTAL });
    expect(found).toEqual([]);
    clock.t += discoveryTiming(TTL).seedLookupMs;
    d.tick(clock.t, { active: true, left: 0, total: TOTAL });
    expect(found.pop()!.map((p) => `${p.host}:${p.port}`)).toEqual(['10.0.0.3:7000']);
  });

  it('without metadata (a magnet link) looks up every provider, seeds included, and announces nothing', () => {
    const { replica, d, found, clock } = setup();
    replica.announce(KEY, { addr: '10.0.0.2:6881', peerId: '', left: 0 });
    d.tick(clock.t, { active: true, left: 0, total: 0, announce: false });
    expect(own(replica)).toBeUndefined();
    expect(found.pop()!.map((p) => `${p.host}:${p.port}`)).toEqual(['10.0.0.2:6881']);
    // Looked up at the leecher's pace, not the seed's.
    clock.t += discoveryTiming(TTL).lookupMs;
    d.tick(clock.t, { active: true, left: 0, total: 0, announce: false });
    expect(found).toHaveLength(1);
    // Metadata in: it announces as usual.
    d.tick(clock.t, { active: true, left: 500, total: TOTAL });
    expect(own(replica)?.left).toBe(500);
  });
});
