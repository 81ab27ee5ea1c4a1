import { PenaltyBox } from './penalty.js';

describe('PenaltyBox', () => {
  it('refuses a source until its penalty ends', () => {
    const p = new PenaltyBox({ maxSources: 10 });
    p.penalise('198.18.0.2', 1000, 500);
    expect(p.has('198.18.0.2', 1499)).toBe(true);
    expect(p.has('198.18.0.3', 1499)).toBe(false);
    expect(p.has('198.18.0.2', 1500)).toBe(false);
    expect(p.size).toBe(0);
  });

  it('keeps a longer penalty and holds at most maxSources', () => {
    const p = new PenaltyBox({ maxSources: 2 });
    p.penalise('a', 0, 1000);
    p.penalise('a', 0, 10);
    expect(p.has('a', 500)).toBe(true);
    p.penalise('b', 0, 1000);
    p.penalise('c', 0, 1000);
    expect(p.size).toBe(2);
    expect(p.has('c', 1)).toBe(true);
  });
});
