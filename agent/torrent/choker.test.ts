import { Choker, OPTIMISTIC_INTERVAL_MS, RECHOKE_INTERVAL_MS } from './choker.js';

const peers = (
  rates: number[],
  interested = true,
): { id: number; interested: boolean; rate: number }[] =>
  rates.map((rate, id) => ({ id, interested, rate }));

describe('Choker', () => {
  it('gives regular slots to the fastest interested peers plus one optimistic slot', () => {
    const c = new Choker({ regularSlots: 2, random: () => 0 });
    const u = c.update(peers([5, 50, 10, 40, 1]), 0);
    expect(u.has(1) && u.has(3)).toBe(true);
    expect(u.size).toBe(3);
  });

  it('never unchokes uninterested peers', () => {
    const c = new Choker({ regularSlots: 4, random: () => 0 });
    expect(c.update(peers([1, 2, 3], false), 0).size).toBe(0);
  });

  it('reshuffles by rate only every 10 s, and rotates the optimistic slot every 30 s', () => {
    const c = new Choker({ regularSlots: 1, random: () => 0.99 });
    const first = c.update(peers([10, 1, 1]), 0);
    expect(first.has(0)).toBe(true);
    const opt = [...first].find((id) => id !== 0)!;
    // Rates change but no round is due: the same set.
    expect(c.update(peers([1, 100, 1]), RECHOKE_INTERVAL_MS - 1)).toEqual(first);
    const second = c.update(peers([1, 100, 1]), RECHOKE_INTERVAL_MS);
    expect(second.has(1)).toBe(true);
    const third = c.update(peers([1, 100, 1, 0]), OPTIMISTIC_INTERVAL_MS);
    expect(third.size).toBe(2);
    expect(opt).toBeDefined();
  });

  it('fills a free slot at once when a peer becomes interested', () => {
    const c = new Choker({ regularSlots: 2, random: () => 0 });
    c.update(peers([1]), 0);
    const u = c.update(peers([1, 2]), 1);
    expect(u.has(0) && u.has(1)).toBe(true);
  });
});
