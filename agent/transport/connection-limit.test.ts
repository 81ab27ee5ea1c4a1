import { ConnectionTable } from './connection-limit.js';

describe('ConnectionTable', () => {
  it('refuses and counts a source past its cap, and frees room on close', () => {
    const t = new ConnectionTable({ maxPerSource: 2 });
    expect(t.tryOpen('198.18.0.2')).toBe(true);
    expect(t.tryOpen('198.18.0.2')).toBe(true);
    expect(t.tryOpen('198.18.0.2')).toBe(false);
    expect(t.refused).toBe(1);
    // Another source is not affected by the first one's connections.
    expect(t.tryOpen('198.18.0.3')).toBe(true);
    t.close('198.18.0.2');
    expect(t.tryOpen('198.18.0.2')).toBe(true);
    expect(t.count('198.18.0.2')).toBe(2);
  });

  it('holds an entry only while a source has connections open', () => {
    const t = new ConnectionTable({ maxPerSource: 5 });
    for (let i = 0; i < 100; i++) t.tryOpen(`198.18.1.${i}`);
    expect(t.sources).toBe(100);
    for (let i = 0; i < 100; i++) t.close(`198.18.1.${i}`);
    expect(t.sources).toBe(0);
    t.close('198.18.1.1'); // a close without an open changes nothing
    expect(t.count('198.18.1.1')).toBe(0);
  });

  it('lets exempt sources (loopback) past the cap', () => {
    const t = new ConnectionTable({ maxPerSource: 1, exempt: (ip) => ip === '127.0.0.1' });
    expect(t.tryOpen('127.0.0.1')).toBe(true);
    expect(t.tryOpen('127.0.0.1')).toBe(true);
    expect(t.tryOpen('198.18.0.2')).toBe(true);
    expect(t.tryOpen('198.18.0.2')).toBe(false);
    expect(t.refused).toBe(1);
  });

  it('rejects a cap below 1', () => {
    expect(() => new ConnectionTable({ maxPerSource: 0 })).toThrow(RangeError);
  });
});
