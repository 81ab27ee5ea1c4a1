import { createHash, randomBytes } from 'node:crypto';
import bencode from 'bencode';
import fc from 'fast-check';
import { WireProtocolError } from './errors.js';
import { decodeExtendedHandshake, encodeExtendedHandshake } from './ext-handshake.js';
import { encodeMetainfo, parseMetainfo, torrentFromInfo } from './metainfo.js';
import {
  MAX_METADATA_SIZE,
  METADATA_PIECE_SIZE,
  MetadataAssembler,
  decodeMetadataMessage,
  encodeMetadataData,
  encodeMetadataRequest,
  metadataPieceLength,
} from './ut-metadata.js';

const sha1 = (b: Uint8Array): Buffer => createHash('sha1').update(b).digest();

describe('ut_metadata codec', () => {
  it('round-trips request, reject and data (property)', () => {
    fc.assert(
      fc.property(
        fc.nat(10_000),
        fc.integer({ min: 1, max: MAX_METADATA_SIZE }),
        fc.uint8Array({ maxLength: METADATA_PIECE_SIZE }),
        (piece, total, data) => {
          expect(decodeMetadataMessage(encodeMetadataRequest('request', piece))).toEqual({
            type: 'request',
            piece,
          });
          expect(decodeMetadataMessage(encodeMetadataRequest('reject', piece))).toEqual({
            type: 'reject',
            piece,
          });
          const m = decodeMetadataMessage(encodeMetadataData(piece, total, data));
          expect(m).toEqual({ type: 'data', piece, totalSize: total, data: Buffer.from(data) });
        },
      ),
    );
  });

  it('is byte-exact with BEP 9', () => {
    expect(encodeMetadataRequest('request', 0).toString()).toBe('d8:msg_typei0e5:piecei0ee');
    expect(encodeMetadataRequest('reject', 3).toString()).toBe('d8:msg_typei2e5:piecei3ee');
    expect(encodeMetadataData(1, 20000, Buffer.from('xyz')).toString()).toBe(
      'd8:msg_typei1e5:piecei1e10:total_sizei20000eexyz',
    );
  });

  it('ignores unknown message types and refuses malformed ones', () => {
    expect(decodeMetadataMessage(Buffer.from('d8:msg_typei7ee'))).toEqual({
      type: 'unknown',
      msgType: 7,
    });
    for (const bad of [
      'garbage',
      'd8:msg_typei0e', // truncated
      'li0ee', // not a dictionary
      'd5:piecei0ee', // no msg_type
      'd8:msg_typei0e5:piecei-1ee', // negative piece
      'd8:msg_typei1e5:piecei0ee', // data without total_size
      'd8:msg_type1:ae',
    ])
      expect(() => decodeMetadataMessage(Buffer.from(bad))).toThrow(WireProtocolError);
    expect(() =>
      decodeMetadataMessage(encodeMetadataData(0, 1, Buffer.alloc(METADATA_PIECE_SIZE + 2000))),
    ).toThrow(/bytes/);
  });

  it('never throws anything but WireProtocolError on arbitrary bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        try {
          decodeMetadataMessage(Buffer.from(b));
        } catch (e) {
          expect(e).toBeInstanceOf(WireProtocolError);
        }
      }),
    );
  });
});

describe('extended handshake', () => {
  it('round-trips what we send and drops disabled extensions', () => {
    const e = encodeExtendedHandshake({
      m: { ut_metadata: 3, ut_pex: 0 },
      metadataSize: 31337,
      reqq: 2000,
      port: 6881,
      client: 'btoverlay 0.1',
    });
    const d = decodeExtendedHandshake(e);
    expect([...d.m]).toEqual([['ut_metadata', 3]]);
    expect(d).toMatchObject({
      metadataSize: 31337,
      reqq: 2000,
      port: 6881,
      client: 'btoverlay 0.1',
    });
  });

  it('tolerates odd values, refuses non-bencode', () => {
    const d = decodeExtendedHandshake(
      bencode.encode({ m: { ut_metadata: 300, x: 'a' }, metadata_size: -5, p: 70000 }),
    );
    expect(d.m.size).toBe(0);
    expect(d.metadataSize).toBeNull();
    expect(d.port).toBeNull();
    expect(decodeExtendedHandshake(bencode.encode([1, 2])).m.size).toBe(0);
    expect(() => decodeExtendedHandshake(Buffer.from('d1:m'))).toThrow(WireProtocolError);
  });
});

describe('MetadataAssembler', () => {
  function info(size: number): Buffer {
    return randomBytes(size);
  }

  /** Serves every request of `peer` from `bytes` until nothing is left for it. */
  function serve(a: MetadataAssembler, peer: number, bytes: Buffer, now = 0): number {
    let n = 0;
    for (let p = a.next(peer, now); p !== null; p = a.next(peer, now)) {
      const len = metadataPieceLength(bytes.length, p);
      expect(
        a.receive(
          peer,
          p,
          bytes.length,
          bytes.subarray(p * METADATA_PIECE_SIZE, p * METADATA_PIECE_SIZE + len),
        ),
      ).toBeNull();
      n++;
    }
    return n;
  }

  it('assembles pieces from several peers in any order and verifies them (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 * METADATA_PIECE_SIZE + 100 }),
        fc.array(fc.nat(3), { minLength: 1, maxLength: 40 }),
        (size, order) => {
          const bytes = info(size);
          const a = new MetadataAssembler(sha1(bytes), size);
          // Peers take one piece each in the given order, answering later in reverse.
          const got: [number, number][] = [];
          for (const peer of order) {
            const p = a.next(peer, 0);
            if (p !== null) got.push([peer, p]);
          }
          for (const [peer, p] of got.reverse()) {
            const off = p * METADATA_PIECE_SIZE;
            a.receive(peer, p, size, bytes.subarray(off, off + metadataPieceLength(size, p)));
          }
          serve(a, 9, bytes);
          expect(a.complete).toBe(true);
          const r = a.verify();
          expect(r.ok && r.info.equals(bytes)).toBe(true);
        },
      ),
    );
  });

  it('blames the sole sender of bad metadata, and after a mixed failure takes it all from one peer', () => {
    const bytes = info(3 * METADATA_PIECE_SIZE + 7);
    const bad = Buffer.from(bytes);
    bad[5] ^= 0xff;
    const a = new MetadataAssembler(sha1(bytes), bytes.length);
    serve(a, 1, bad);
    expect(a.verify()).toEqual({ ok: false, blame: 1, senders: [1] });
    expect(a.received).toBe(0);

    // Mixed: peer 1 lies on piece 0, peer 2 is honest.
    expect(a.next(1, 0)).toBe(0);
    expect(a.receive(1, 0, bytes.length, bad.subarray(0, METADATA_PIECE_SIZE))).toBeNull();
    serve(a, 2, bytes);
    const r = a.verify();
    expect(r).toMatchObject({ ok: false, blame: null });
    // Now one peer (the first to ask) gets every piece; others get none until it leaves.
    expect(a.next(2, 1)).toBe(0);
    expect(a.next(1, 1)).toBeNull();
    a.peerGone(2);
    expect(serve(a, 1, bad)).toBe(4);
    expect(a.verify()).toEqual({ ok: false, blame: 1, senders: [1] });
    serve(a, 3, bytes);
    expect(a.verify()).toMatchObject({ ok: true });
  });

  it('refuses wrong sizes and lengths, ignores unsolicited data, re-requests on reject, timeout and departure', () => {
    const bytes = info(2 * METADATA_PIECE_SIZE + 1);
    const a = new MetadataAssembler(sha1(bytes), bytes.length);
    expect(a.receive(1, 0, bytes.length, bytes.subarray(0, METADATA_PIECE_SIZE))).toBeNull();
    expect(a.received).toBe(0); // unsolicited: ignored
    expect(a.next(1, 0)).toBe(0);
    expect(a.receive(1, 0, bytes.length + 1, bytes.subarray(0, METADATA_PIECE_SIZE))).toBe(
      'total-size',
    );
    expect(a.receive(1, 0, bytes.length, bytes.subarray(0, 10))).toBe('length');
    expect(a.next(1, 0)).toBe(1);
    expect(a.next(2, 0)).toBe(2);
    expect(a.outstanding(1)).toBe(2);
    a.release(1, 0); // reject
    expect(a.next(3, 0)).toBe(0);
    expect(a.expire(5_000, 10_000)).toEqual([]);
    expect(a.expire(20_001, 10_000).sort()).toEqual([1, 2, 3]);
    expect(a.outstanding(1)).toBe(0);
    expect(a.next(4, 0)).toBe(0);
    a.peerGone(4);
    expect(a.next(5, 0)).toBe(0);
  });

  it('refuses sizes outside 1..MAX_METADATA_SIZE', () => {
    const h = Buffer.alloc(20);
    expect(() => new MetadataAssembler(h, 0)).toThrow(RangeError);
    expect(() => new MetadataAssembler(h, MAX_METADATA_SIZE + 1)).toThrow(RangeError);
    expect(() => new MetadataAssembler(h, 1.5)).toThrow(RangeError);
    expect(new MetadataAssembler(h, MAX_METADATA_SIZE).pieceCount).toBe(256);
  });
});

describe('torrentFromInfo', () => {
  it('wraps raw info bytes verbatim (even non-canonical ones) with the trackers', () => {
    // Keys out of order: a re-encoding would change the hash.
    const raw = Buffer.from(
      'd6:lengthi5e4:name1:x12:piece lengthi16384e6:pieces20:' + 'a'.repeat(20) + 'e',
    );
    const m = parseMetainfo(torrentFromInfo(raw, ['http://127.0.0.1:1/announce', 'http://b/a']));
    expect(m.infoHash).toEqual(sha1(raw));
    expect(m.infoBytes).toEqual(raw);
    expect(m.announceTiers).toEqual([['http://127.0.0.1:1/announce', 'http://b/a']]);
    expect(parseMetainfo(torrentFromInfo(raw, [])).announceTiers).toEqual([]);
    const canon = encodeMetainfo({
      info: { length: 5, name: 'x', 'piece length': 16384, pieces: Buffer.alloc(20) },
    });
    expect(parseMetainfo(canon).infoHashHex).toBe(
      parseMetainfo(torrentFromInfo(parseMetainfo(canon).infoBytes, [])).infoHashHex,
    );
  });
});
