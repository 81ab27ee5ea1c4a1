import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DirListing, mapInBatches } from './fs-batch.js';

describe('mapInBatches', () => {
  it('keeps at most `batch` calls in flight and returns results in order', async () => {
    let inFlight = 0;
    let peak = 0;
    const out = await mapInBatches(
      Array.from({ length: 50 }, (_, i) => i),
      async (n) => {
        peak = Math.max(peak, ++inFlight);
        await new Promise((r) => setTimeout(r, n % 3));
        inFlight--;
        return n * 2;
      },
      8,
    );
    expect(peak).toBe(8);
    expect(out).toEqual(Array.from({ length: 50 }, (_, i) => i * 2));
  });

  it('lets timers run between batches (the event loop is not held)', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    await mapInBatches(
      Array.from({ length: 20 }, (_, i) => i),
      () => new Promise((r) => setTimeout(r, 2)),
      2,
    );
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(5);
  });

  it('rejects with the first failure and starts no later batch', async () => {
    const started: number[] = [];
    await expect(
      mapInBatches(
        [0, 1, 2, 3, 4, 5],
        async (n) => {
          started.push(n);
          if (n === 1) throw new Error('boom');
          return n;
        },
        2,
      ),
    ).rejects.toThrow('boom');
    expect(started).toEqual([0, 1]);
  });
});

describe('DirListing', () => {
  it('knows what is absent in directories holding several paths, and guesses nothing else', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bt-listing-'));
    try {
      mkdirSync(join(dir, 'a'));
      writeFileSync(join(dir, 'a', 'here'), 'x');
      const l = await DirListing.of([
        join(dir, 'a', 'here'),
        join(dir, 'a', 'gone'),
        join(dir, 'missing', 'x'),
        join(dir, 'missing', 'y'),
        join(dir, 'single'),
      ]);
      expect(l.absent(join(dir, 'a', 'here'))).toBe(false);
      expect(l.absent(join(dir, 'a', 'gone'))).toBe(true);
      expect(l.absent(join(dir, 'missing', 'x'))).toBe(true);
      // A directory with one of the paths is not listed: the caller must look.
      expect(l.absent(join(dir, 'single'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
