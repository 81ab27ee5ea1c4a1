import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { MetainfoError } from './errors.js';
import { encodeMetainfo, parseMetainfo, pieceSize } from './metainfo.js';

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
