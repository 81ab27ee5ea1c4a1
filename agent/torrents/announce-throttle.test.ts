import { announceDue, PROGRESS_FRACTION, PROGRESS_MS } from './announce-throttle.js';

const T = { reannounceMs: 30_000, progressMs: PROGRESS_MS, progressFraction: PROGRESS_FRACTION };
const TOTAL = 1_000_000;

describe('announceDue', () => {
  it('announces at once when nothing is announced (start, resume, after a withdraw)', () => {
    expect(announceDue(null, 0, TOTAL, TOTAL, T)).toBe(true);
    expect(announceDue(null, 5, 0, TOTAL, T)).toBe(true);
  });

  it('holds a small change of left until 10 s passed', () => {
    const last = { left: 800_000, at: 1000 };
    expect(announceDue(last, 1000 + 1000, 790_000, TOTAL, T)).toBe(false);
    expect(announceDue(last, 1000 + PROGRESS_MS - 1, 710_000, TOTAL, T)).toBe(false);
    expect(announceDue(last, 1000 + PROGRESS_MS, 710_000, TOTAL, T)).toBe(true);
  });

  it('announces a change of at least 10 % of the torrent at once', () => {
    const last = { left: 800_000, at: 1000 };
    expect(announceDue(last, 1500, 700_000, TOTAL, T)).toBe(true);
    expect(announceDue(last, 1500, 700_001, TOTAL, T)).toBe(false);
    // Growing left (a piece failed its hash and was dropped) counts the same way.
    expect(announceDue(last, 1500, 900_000, TOTAL, T)).toBe(true);
  });

  it('announces completion (left = 0) at once, however small the step', () => {
    const last = { left: 10, at: 1000 };
    expect(announceDue(last, 1001, 0, TOTAL, T)).toBe(true);
    expect(announceDue({ left: 0, at: 1000 }, 1001, 0, TOTAL, T)).toBe(false);
  });

  it('refreshes an unchanged record every reannounceMs (inside the TTL), not before', () => {
    const last = { left: 0, at: 1000 };
    expect(announceDue(last, 1000 + T.reannounceMs - 1, 0, TOTAL, T)).toBe(false);
    expect(announceDue(last, 1000 + T.reannounceMs, 0, TOTAL, T)).toBe(true);
  });

  it('bounds a whole download: at most one announce per 10 s plus one per 10 % step', () => {
    // 100 s at 1 tick/s, progress 0.5 %/s, then a burst of 40 % in 4 s, then completion.
    let last: { left: number; at: number } | null = null;
    let count = 0;
    let left = TOTAL;
    for (let now = 0; now <= 120_000; now += 1000) {
      if (now < 100_000) left -= TOTAL * 0.005;
      else if (now < 104_000) left -= TOTAL * 0.1;
      else left = 0;
      left = Math.max(0, left);
      if (announceDue(last, now, left, TOTAL, T)) {
        last = { left, at: now };
        count++;
      }
    }
    expect(last?.left).toBe(0);
    // 1 initial + 10 (one per 10 s over 100 s) + 4 (the burst) + 1 (completion), at most.
    expect(count).toBeLessThanOrEqual(16);
    expect(count).toBeGreaterThanOrEqual(12);
  });
});
