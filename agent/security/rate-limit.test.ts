import fc from 'fast-check';
import { parseRate, RateLimiter } from './rate-limit.js';

describe('RateLimiter', () => {
  it('allows a burst, refuses past it, and refills at the rate', () => {
    const rl = new RateLimiter({ ratePerSec: 10, burst: 5, maxSources: 100 });
    const t0 = 1_000_000;
    for (let i = 0; i < 5; i++) expect(rl.take('10.0.0.1', t0)).toBe(true);
    expect(rl.take('10.0.0.1', t0)).toBe(false);
    expect(rl.refused).toBe(1);
    // Another source is independent.
    expect(rl.take('10.0.0.2', t0)).toBe(true);
    // 10/s: one token after 100 ms, not before.
    expect(rl.take('10.0.0.1', t0 + 99)).toBe(false);
    expect(rl.take('10.0.0.1', t0 + 200)).toBe(true);
    // Fully refilled (but never above the burst) after a long pause.
    let n = 0;
    while (rl.take('10.0.0.1', t0 + 60_000)) n++;
    expect(n).toBe(5);
  });

  it('keeps at most maxSources buckets, forgetting the least recently seen', () => {
    const rl = new RateLimiter({ ratePerSec: 1, burst: 1, maxSources: 3 });
    expect(rl.take('a', 0)).toBe(true);
    expect(rl.take('b', 0)).toBe(true);
    expect(rl.take('c', 0)).toBe(true);
    expect(rl.take('a', 1)).toBe(false); // a is now the most recent
    expect(rl.take('d', 2)).toBe(true); // evicts b
    expect(rl.size).toBe(3);
    expect(rl.evicted).toBe(1);
    expect(rl.take('a', 3)).toBe(false); // a was kept, still empty
    expect(rl.take('b', 3)).toBe(true); // b was forgotten: a fresh bucket
  });

  it('never admits more than burst + rate × elapsed for one source (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.integer({ min: 0, max: 500 }), { minLength: 1, maxLength: 300 }),
        (rate, burst, gaps) => {
          const rl = new RateLimiter({ ratePerSec: rate, burst, maxSources: 10 });
          let now = 0;
          let admitted = 0;
          for (const g of gaps) {
            now += g;
            if (rl.take('x', now)) admitted++;
          }
          return admitted <= burst + (rate * now) / 1000 + 1e-9;
        },
      ),
    );
  });

  it('rejects nonsense settings', () => {
    expect(() => new RateLimiter({ ratePerSec: 0, burst: 1, maxSources: 1 })).toThrow(RangeError);
    expect(() => new RateLimiter({ ratePerSec: 1, burst: 0, maxSources: 1 })).toThrow(RangeError);
  });
});

describe('parseRate', () => {
  it('reads per second and per minute', () => {
    expect(parseRate('100/s')).toBe(100);
    expect(parseRate('100')).toBe(100);
    expect(parseRate('600/min')).toBe(10);
    expect(parseRate('0.5/s')).toBe(0.5);
    expect(parseRate('0/s')).toBeUndefined();
    expect(parseRate('fast')).toBeUndefined();
    expect(parseRate('-1/s')).toBeUndefined();
  });
});
