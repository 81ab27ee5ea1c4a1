import { Replica } from '../replica.js';
import { Store } from '../store/store.js';
import type { PeerAddr } from '../torrent/peer-source.js';
import { discoveryTiming, OverlayDiscovery } from './overlay-discovery.js';

const KEY = 'ab'.repeat(20);
const TTL = 90_000;

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
  it('announces itself with the current left, re-announcing when it changes', () => {
    const { replica, d, clock } = setup();
    d.tick(clock.t, { active: true, left: 5000 });
    expect(own(replica)).toMatchObject({ left: 5000, peerId: '-BO0100-abcdefghijkl' });
    clock.t += 1000;
    d.tick(clock.t, { active: true, left: 1000 });
    expect(own(replica)?.left).toBe(1000);
    clock.t += 1000;
    d.tick(clock.t, { active: true, left: 0 });
    expect(own(replica)?.left).toBe(0);
  });

  it('re-announces an unchanged record well inside the TTL, so it never expires', () => {
    const { replica, d, clock } = setup();
    for (let s = 0; s < 400; s++) {
      d.tick(clock.t, { active: true, left: 0 });
      expect(own(replica)).toBeDefined();
      clock.t += 1000;
    }
    expect(discoveryTiming(TTL).reannounceMs).toBeLessThanOrEqual(TTL / 3);
  });

  it('withdraws (tombstones) when inactive, and comes back when active again', () => {
    const { replica, d, clock } = setup();
    d.tick(clock.t, { active: true, left: 10 });
    clock.t += 1000;
    d.tick(clock.t, { active: false, left: 10 });
    expect(own(replica)).toBeUndefined();
    expect(replica.store.get(KEY, '10.0.0.1:6881')?.removed).toBe(true);
    clock.t += 1000;
    d.tick(clock.t, { active: true, left: 10 });
    expect(own(replica)?.left).toBe(10);
  });

  it('hands other providers to the session, never itself; a seed only dials leechers', () => {
    const { replica, d, found, clock } = setup();
    replica.announce(KEY, { addr: '10.0.0.2:6881', peerId: '', left: 0 });
    replica.announce(KEY, { addr: '10.0.0.3:7000', peerId: '', left: 99 });
    d.tick(clock.t, { active: true, left: 50 });
    expect(
      found
        .pop()!
        .map((p) => `${p.host}:${p.port}`)
        .sort(),
    ).toEqual(['10.0.0.2:6881', '10.0.0.3:7000']);
    // Looks again only after the lookup interval.
    clock.t += 500;
    d.tick(clock.t, { active: true, left: 50 });
    expect(found).toEqual([]);
    clock.t += discoveryTiming(TTL).seedLookupMs;
    d.tick(clock.t, { active: true, left: 0 });
    expect(found.pop()!.map((p) => `${p.host}:${p.port}`)).toEqual(['10.0.0.3:7000']);
  });
});
