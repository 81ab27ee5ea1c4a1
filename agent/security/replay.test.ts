import { ReplayGuard } from './replay.js';

describe('ReplayGuard', () => {
  it('accepts a nonce once inside the window', () => {
    const g = new ReplayGuard(30_000, 100);
    expect(g.check('n1', 1000, 1000)).toBe('ok');
    expect(g.check('n1', 1000, 1500)).toBe('replayed');
    expect(g.check('n2', 1000 - 30_001, 1000)).toBe('stale');
    expect(g.check('n3', 1000 + 30_001, 1000)).toBe('stale');
  });

  it('stays bounded and never re-admits a forgotten nonce', () => {
    const g = new ReplayGuard(30_000, 10);
    const now = 100_000;
    for (let i = 0; i < 50; i++) expect(g.check(`n${i}`, now - 1000 + i, now)).toBe('ok');
    expect(g.size).toBeLessThanOrEqual(10);
    // Every forgotten nonce is older than the floor now: refused, never accepted twice.
    for (let i = 0; i < 50; i++) expect(g.check(`n${i}`, now - 1000 + i, now)).not.toBe('ok');
  });

  it('forgets nonces that left the window', () => {
    const g = new ReplayGuard(1000, 100);
    expect(g.check('a', 0, 0)).toBe('ok');
    expect(g.check('b', 5000, 5000)).toBe('ok');
    expect(g.size).toBe(1);
  });
});

describe('ReplayGuard eviction', () => {
  it('forgets the smallest timestamp first, not the oldest arrival', () => {
    const g = new ReplayGuard(30_000, 3);
    const now = 100_000;
    // Arrival order differs from timestamp order: a delayed message comes in last.
    expect(g.check('late-newest', now - 100, now)).toBe('ok');
    expect(g.check('mid', now - 200, now)).toBe('ok');
    expect(g.check('delayed-oldest', now - 5000, now)).toBe('ok');
    // Full: the next one pushes out 'delayed-oldest' (smallest timestamp), not 'late-newest'.
    expect(g.check('fresh', now - 50, now)).toBe('ok');
    expect(g.refusedUpTo).toBe(now - 5000);
    expect(g.size).toBe(3);
    // The first arrival is still remembered: refused as a replay, with its own timestamp.
    expect(g.check('late-newest', now - 100, now)).toBe('replayed');
    // The forgotten one is refused by the floor; so is any message at or before it.
    expect(g.check('delayed-oldest', now - 5000, now)).toBe('stale');
    expect(g.check('other-old', now - 6000, now)).toBe('stale');
    // Messages newer than the floor still get in.
    expect(g.check('newer', now - 150, now)).toBe('ok');
    expect(g.refusedUpTo).toBe(now - 200);
  });

  it('a full table accepts a message older than all it holds once, then refuses its time', () => {
    const g = new ReplayGuard(30_000, 2);
    const now = 100_000;
    expect(g.check('a', now - 10, now)).toBe('ok');
    expect(g.check('b', now - 20, now)).toBe('ok');
    expect(g.check('old', now - 900, now)).toBe('ok');
    expect(g.size).toBe(2); // 'a' and 'b' kept
    expect(g.check('old', now - 900, now)).toBe('stale');
    expect(g.check('a', now - 10, now)).toBe('replayed');
    expect(g.check('b', now - 20, now)).toBe('replayed');
  });

  it('never accepts any nonce twice under random arrival order', () => {
    let seed = 7;
    const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const g = new ReplayGuard(10_000, 16);
    const sent: { n: string; ts: number }[] = [];
    const accepted = new Set<string>();
    let now = 50_000;
    for (let i = 0; i < 2000; i++) {
      now += 3;
      const replay = sent.length > 0 && rand() < 0.5;
      const m = replay
        ? sent[Math.floor(rand() * sent.length)]!
        : { n: `m${i}`, ts: now - Math.floor(rand() * 9000) };
      if (!replay) sent.push(m);
      if (g.check(m.n, m.ts, now) === 'ok') {
        expect(accepted.has(m.n)).toBe(false);
        accepted.add(m.n);
      }
      expect(g.size).toBeLessThanOrEqual(16);
    }
    expect(accepted.size).toBeGreaterThan(16);
  });
});
