import fc from 'fast-check';
import { mapRange } from './layout.js';
import type { TorrentFile } from './metainfo.js';

function files(lengths: number[]): TorrentFile[] {
  let off = 0;
  return lengths.map((length, i) => {
    const f = { path: [`f${i}`], length, offset: off };
    off += length;
    return f;
  });
}

describe('mapRange', () => {
  it('splits a range across file boundaries and skips empty files', () => {
    const fs = files([5, 0, 3, 10]);
    expect(mapRange(fs, 3, 7)).toEqual([
      { fileIndex: 0, fileOffset: 3, bufferOffset: 0, length: 2 },
      { fileIndex: 2, fileOffset: 0, bufferOffset: 2, length: 3 },
      { fileIndex: 3, fileOffset: 0, bufferOffset: 5, length: 2 },
    ]);
  });

  it('covers every byte of any range exactly once, in order (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(50), { minLength: 1, maxLength: 12 }),
        fc.nat(),
        fc.nat(),
        (lengths, a, b) => {
          const fs = files(lengths);
          const total = lengths.reduce((x, y) => x + y, 0);
          if (total === 0) return;
          const start = a % total;
          const length = 1 + (b % (total - start));
          const segs = mapRange(fs, start, length);
          let expectBuf = 0;
          for (const s of segs) {
            expect(s.bufferOffset).toBe(expectBuf);
            expect(s.length).toBeGreaterThan(0);
            // absolute position of the segment equals start + bufferOffset
            expect(fs[s.fileIndex]!.offset + s.fileOffset).toBe(start + s.bufferOffset);
            expect(s.fileOffset + s.length).toBeLessThanOrEqual(fs[s.fileIndex]!.length);
            expectBuf += s.length;
          }
          expect(expectBuf).toBe(length);
        },
      ),
    );
  });
});
