import { AbuseMonitor } from './abuse.js';

describe('AbuseMonitor', () => {
  const options = { strikeBurst: 3, strikeRatePerSec: 1, penaltyMs: 500, maxSources: 2 };

  it('expels a source on the strike that empties its bucket, for the penalty', () => {
    const m = new AbuseMonitor(options);
    expect([m.strike('a', 0), m.strike('a', 0), m.strike('a', 0)]).toEqual([false, false, false]);
    expect(m.strike('a', 0)).toBe(true);
    expect(m.isPenalised('a', 499)).toBe(true);
    // Strikes while penalised do not expel it again.
    expect(m.strike('a', 100)).toBe(false);
    expect(m.isPenalised('a', 500)).toBe(false);
    expect(m.isPenalised('b', 0)).toBe(false);
  });

  it('refills a strike a second, and holds at most maxSources penalties', () => {
    const m = new AbuseMonitor(options);
    for (let i = 0; i < 3; i++) m.strike('a', 0);
    expect(m.strike('a', 1000)).toBe(false); // one refilled
    for (const s of ['b', 'c', 'd']) {
      for (let i = 0; i < 4; i++) m.strike(s, 0);
    }
    expect(m.penalised).toBe(2);
    expect(m.isPenalised('d', 1)).toBe(true);
  });
});
