import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StorageError } from './errors.js';
import type { Metainfo } from './metainfo.js';
import { Storage, resolvePaths } from './storage.js';

function meta(
  lengths: number[],
  pieceLength: number,
  content: Buffer,
  paths?: string[][],
): Metainfo {
  let off = 0;
  const files = lengths.map((length, i) => {
    const f = { path: paths?.[i] ?? [`f${i}.bin`], length, offset: off };
    off += length;
    return f;
  });
  const pieceCount = Math.ceil(off / pieceLength);
  const pieces = Buffer.concat(
    Array.from({ length: pieceCount }, (_, i) =>
      createHash('sha1')
        .update(content.subarray(i * pieceLength, (i + 1) * pieceLength))
        .digest(),
    ),
  );
  return {
    infoHash: Buffer.alloc(20),
    infoHashHex: '00'.repeat(20),
    name: 'multi',
    pieceLength,
    pieces,
    pieceCount,
    totalLength: off,
    files,
    multiFile: true,
    private: false,
    announceTiers: [],
    infoBytes: Buffer.alloc(0),
  };
}

describe('Storage', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'bt-storage-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes and reads pieces across file boundaries, then verifies them from disk', async () => {
    const lengths = [10, 0, 7, 30];
    const content = randomBytes(47);
    const m = meta(lengths, 16, content);
    const s = new Storage(m, dir, { create: true });
    for (let i = m.pieceCount - 1; i >= 0; i--)
      await s.writePiece(i, content.subarray(i * 16, (i + 1) * 16));
    expect(await s.read(1, 2, 20)).toEqual(content.subarray(18, 38));
    expect(await s.readBlock(2, 0, 15)).toEqual(content.subarray(32, 47));
    await s.close();
    expect(readFileSync(join(dir, 'multi', 'f0.bin'))).toEqual(content.subarray(0, 10));
    expect(readFileSync(join(dir, 'multi', 'f1.bin')).length).toBe(0);
    expect(readFileSync(join(dir, 'multi', 'f3.bin'))).toEqual(content.subarray(17));
    const again = new Storage(m, dir, { create: false });
    for (let i = 0; i < m.pieceCount; i++) expect(await again.checkPiece(i)).toBe(true);
    await again.close();
  });

  it('reports absent pieces of a partial download as not present', async () => {
    const content = randomBytes(64);
    const m = meta([64], 16, content);
    const s = new Storage(m, dir, { create: true });
    await s.writePiece(1, content.subarray(16, 32));
    await s.close();
    const r = new Storage(m, dir, { create: true });
    expect([0, 1, 2, 3].map((i) => r.mayHavePiece(i))).toEqual([true, true, false, false]);
    expect(await r.checkPiece(0)).toBe(false);
    expect(await r.checkPiece(1)).toBe(true);
    await r.close();
  });

  it('rejects paths that escape the data directory', () => {
    const m = meta([1], 16, Buffer.alloc(1), [['..', '..', 'etc', 'passwd']]);
    expect(() => resolvePaths(m, dir)).toThrow(StorageError);
    expect(() => new Storage(m, dir, { create: true })).toThrow(StorageError);
  });

  it('refuses to seed from missing files', () => {
    const m = meta([5], 16, Buffer.alloc(5));
    expect(() => new Storage(m, dir, { create: false })).toThrow(/missing file/);
  });

  it('Storage.open: creates directories and empty files, finds sizes, refuses what the constructor refuses', async () => {
    const content = randomBytes(20);
    const m = meta([10, 0, 10], 16, content, [
      ['a', 'x.bin'],
      ['a', 'empty'],
      ['b', 'c', 'y.bin'],
    ]);
    const s = await Storage.open(m, dir, { create: true });
    expect(readFileSync(join(dir, 'multi', 'a', 'empty')).length).toBe(0);
    await s.writePiece(0, content.subarray(0, 16));
    await s.close();
    const again = await Storage.open(m, dir, { create: false });
    expect(again.mayHavePiece(0)).toBe(true);
    expect(again.mayHavePiece(1)).toBe(false);
    await again.close();
    await expect(
      Storage.open(meta([5], 16, Buffer.alloc(5)), dir, { create: false }),
    ).rejects.toThrow(/missing file/);
    const escaping = meta([1], 16, Buffer.alloc(1), [['..', '..', 'etc', 'passwd']]);
    await expect(Storage.open(escaping, dir, { create: true })).rejects.toThrow(StorageError);
    const dirNamedLikeFile = meta([1], 16, Buffer.alloc(1), [['a']]);
    await expect(Storage.open(dirNamedLikeFile, dir, { create: true })).rejects.toThrow(
      /not a regular file/,
    );
  });
});
