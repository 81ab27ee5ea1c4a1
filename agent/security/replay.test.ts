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
