import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { MetainfoError } from './errors.js';
import {
  encodeMetainfo,
  MAX_FILES,
  MAX_PIECE_LENGTH,
  parseMetainfo,
  pieceSize,
} from './metainfo.js';

const hashes = (n: number): Buffer => Buffer.alloc(20 * n, 7);

describe('parseMetainfo', () => {
  it('parses a single-file torrent with announce-list and private flag', () => {
    const raw = encodeMetainfo({
      announce: 'http://t.example/announce',
      'announce-list': [['http://a/announce', 'http://b/announce'], ['http://c/announce']],
      info: { name: 'f.bin', 'piece length': 16384, length: 40000, pieces: hashes(3), private: 1 },
    });
    const m = parseMetainfo(raw);
    expect(m.name).toBe('f.bin');
    expect(m.pieceCount).toBe(3);
    expect(m.totalLength).toBe(40000);
    expect(m.files).toEqual([{ path: ['f.bin'], length: 40000, offset: 0 }]);
    expect(m.private).toBe(true);
    expect(m.announceTiers).toEqual([
      ['http://a/announce', 'http://b/announce'],
      ['http://c/announce'],
    ]);
    expect(pieceSize(m, 2)).toBe(40000 - 2 * 16384);
  });

  it('parses multi-file torrents with offsets', () => {
    const m = parseMetainfo(
      encodeMetainfo({
        announce: 'http://t/announce',
        info: {
          name: 'd',
          'piece length': 4,
          pieces: hashes(3),
          files: [
            { length: 5, path: ['a'] },
            { length: 0, path: ['empty'] },
            { length: 4, path: ['sub', 'b'] },
          ],
        },
      }),
    );
    expect(m.multiFile).toBe(true);
    expect(m.files.map((f) => [f.path.join('/'), f.offset])).toEqual([
      ['a', 0],
      ['empty', 5],
      ['sub/b', 5],
    ]);
    expect(m.announceTiers).toEqual([['http://t/announce']]);
  });

  it('hashes the raw info bytes, not a re-encoding (non-canonical key order)', () => {
    // Keys out of order inside info: a re-encoder would sort them and change the hash.
    const info = Buffer.from(
      `d6:lengthi3e4:name1:x12:piece lengthi16384e6:pieces20:${'a'.repeat(20)}e`,
    );
    const swapped = Buffer.from(
      `d4:name1:x6:lengthi3e12:piece lengthi16384e6:pieces20:${'a'.repeat(20)}e`,
    );
    for (const i of [info, swapped]) {
      const raw = Buffer.concat([Buffer.from('d4:info'), i, Buffer.from('e')]);
      expect(parseMetainfo(raw).infoHash).toEqual(createHash('sha1').update(i).digest());
    }
  });

  it.each([
    ['info.pieces', { name: 'x', 'piece length': 16384, length: 3, pieces: Buffer.alloc(19) }],
    ['info.piece length', { name: 'x', 'piece length': 0, length: 3, pieces: hashes(1) }],
    ['info.name', { name: '..', 'piece length': 16384, length: 3, pieces: hashes(1) }],
    [
      'info.files[0].path[0]',
      {
        name: 'x',
        'piece length': 16384,
        pieces: hashes(1),
        files: [{ length: 1, path: ['..', 'etc'] }],
      },
    ],
    [
      'info.files[0].path[0]',
      {
        name: 'x',
        'piece length': 16384,
        pieces: hashes(1),
        files: [{ length: 1, path: ['a/b'] }],
      },
    ],
    ['info.pieces', { name: 'x', 'piece length': 16384, length: 70000, pieces: hashes(1) }],
    ['info.length', { name: 'x', 'piece length': 16384, pieces: hashes(1) }],
  ])('rejects a bad %s', (field, info) => {
    const raw = encodeMetainfo({ info });
    expect(() => parseMetainfo(raw)).toThrow(MetainfoError);
    try {
      parseMetainfo(raw);
    } catch (e) {
      expect((e as MetainfoError).field).toBe(field);
    }
  });

  it('rejects truncated and garbage input with a MetainfoError, never another error', () => {
    const good = encodeMetainfo({
      info: { name: 'x', 'piece length': 16384, length: 3, pieces: hashes(1) },
    });
    for (let n = 0; n < good.length; n++)
      expect(() => parseMetainfo(good.subarray(0, n))).toThrow(MetainfoError);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        try {
          parseMetainfo(b);
        } catch (e) {
          expect(e).toBeInstanceOf(MetainfoError);
        }
      }),
    );
  });
});

describe('parseMetainfo bounds', () => {
  const multi = (files: number): Buffer =>
    encodeMetainfo({
      info: {
        name: 'd',
        'piece length': 16384,
        pieces: hashes(1),
        files: Array.from({ length: files }, (_, i) => ({ length: 1, path: [`f${i}`] })),
      },
    });
  const field = (raw: Buffer): string => {
    try {
      parseMetainfo(raw);
    } catch (e) {
      expect(e).toBeInstanceOf(MetainfoError);
      return (e as MetainfoError).field;
    }
    throw new Error('accepted');
  };

  it(`accepts ${MAX_FILES} files and refuses one more, naming info.files`, () => {
    expect(parseMetainfo(multi(MAX_FILES)).files.length).toBe(MAX_FILES);
    expect(field(multi(MAX_FILES + 1))).toBe('info.files');
  });

  it('accepts a 64 MiB piece length and refuses a larger one, naming info.piece length', () => {
    const single = (pieceLength: number): Buffer =>
      encodeMetainfo({
        info: { name: 'f', 'piece length': pieceLength, length: 1, pieces: hashes(1) },
      });
    expect(parseMetainfo(single(MAX_PIECE_LENGTH)).pieceLength).toBe(MAX_PIECE_LENGTH);
    expect(field(single(MAX_PIECE_LENGTH + 1))).toBe('info.piece length');
    expect(field(single(128 * 1024 * 1024))).toBe('info.piece length');
  });
});
