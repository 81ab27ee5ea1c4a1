import fc from 'fast-check';
import { WireProtocolError } from './errors.js';
import {
  MSG,
  WireParser,
  encodeBitfield,
  encodeBlockRef,
  encodeExtended,
  checkHandshake,
  encodeHandshake,
  encodeIndex,
  encodeKeepAlive,
  encodePieceHeader,
  encodeSimple,
  type Handshake,
  type WireMessage,
} from './wire.js';

const ih = Buffer.alloc(20, 1);
const pid = Buffer.alloc(20, 2);

function stream(): { bytes: Buffer; expected: unknown[] } {
  const block = Buffer.from('0123456789abcdef'.repeat(100));
  const parts = [
    encodeHandshake(ih, pid, { fast: true, extended: true }),
    encodeKeepAlive(),
    encodeSimple(MSG.choke),
    encodeSimple(MSG.unchoke),
    encodeSimple(MSG.interested),
    encodeSimple(MSG.notInterested),
    encodeIndex(MSG.have, 77),
    encodeBitfield(Buffer.from([0xff, 0x80])),
    encodeBlockRef(MSG.request, 1, 16384, 16384),
    encodeBlockRef(MSG.cancel, 2, 0, 100),
    encodeBlockRef(MSG.reject, 3, 0, 16384),
    encodePieceHeader(4, 32768, block.length),
    block,
    encodeSimple(MSG.haveAll),
    encodeSimple(MSG.haveNone),
    encodeIndex(MSG.allowedFast, 9),
    encodeExtended(0, Buffer.from('de')),
  ];
  const expected = [
    { type: 'keepAlive' },
    { type: 'choke' },
    { type: 'unchoke' },
    { type: 'interested' },
    { type: 'notInterested' },
    { type: 'have', index: 77 },
    { type: 'bitfield', bits: Buffer.from([0xff, 0x80]) },
    { type: 'request', index: 1, begin: 16384, length: 16384 },
    { type: 'cancel', index: 2, begin: 0, length: 100 },
    { type: 'reject', index: 3, begin: 0, length: 16384 },
    { type: 'piece', index: 4, begin: 32768, block },
    { type: 'haveAll' },
    { type: 'haveNone' },
    { type: 'allowedFast', index: 9 },
    { type: 'extended', id: 0, payload: Buffer.from('de') },
  ];
  return { bytes: Buffer.concat(parts), expected };
}

function parseAll(chunks: Buffer[], max = 1 << 20): { hs: Handshake[]; msgs: WireMessage[] } {
  const hs: Handshake[] = [];
  const msgs: WireMessage[] = [];
  const p = new WireParser(
    max,
    (m) => msgs.push(m.type === 'piece' ? { ...m, block: Buffer.from(m.block) } : m),
    (h) => hs.push(h),
  );
  for (const c of chunks) p.push(c);
  return { hs, msgs };
}

describe('WireParser', () => {
  it('decodes every message type, whole', () => {
    const { bytes, expected } = stream();
    const { hs, msgs } = parseAll([bytes]);
    expect(hs).toEqual([{ infoHash: ih, peerId: pid, fast: true, extended: true }]);
    expect(msgs).toEqual(expected);
  });

  it('gives the same messages however the stream is split (property)', () => {
    const { bytes, expected } = stream();
    fc.assert(
      fc.property(fc.array(fc.nat(bytes.length), { maxLength: 30 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const chunks: Buffer[] = [];
        let prev = 0;
        for (const c of [...points, bytes.length]) {
          chunks.push(bytes.subarray(prev, c));
          prev = c;
        }
        expect(parseAll(chunks).msgs).toEqual(expected);
      }),
    );
  });

  it('with one reused read buffer (transient), the same messages however split (property)', () => {
    const { bytes, expected } = stream();
    // Callbacks copy what they keep, as the session does; the parser must copy partial
    // messages itself because the read buffer is overwritten after every push.
    const own = (m: WireMessage): WireMessage =>
      m.type === 'piece'
        ? { ...m, block: Buffer.from(m.block) }
        : m.type === 'bitfield'
          ? { ...m, bits: Buffer.from(m.bits) }
          : m.type === 'extended'
            ? { ...m, payload: Buffer.from(m.payload) }
            : m;
    fc.assert(
      fc.property(fc.array(fc.nat(bytes.length), { maxLength: 30 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const msgs: WireMessage[] = [];
        const hs: Handshake[] = [];
        const p = new WireParser(
          1 << 20,
          (m) => msgs.push(own(m)),
          (h) => hs.push(h),
        );
        const shared = Buffer.alloc(bytes.length);
        let prev = 0;
        for (const c of [...points, bytes.length]) {
          bytes.copy(shared, 0, prev, c);
          p.push(shared.subarray(0, c - prev), true);
          shared.fill(0xee); // the next read overwrites the buffer
          prev = c;
        }
        expect(hs).toEqual([{ infoHash: ih, peerId: pid, fast: true, extended: true }]);
        expect(msgs).toEqual(expected);
        expect(p.pending).toBe(0);
      }),
    );
  });

  it('with a piece-block handler, blocks arrive in order with the same bytes however split, through a reused buffer (property)', () => {
    const { bytes, expected } = stream();
    // The piece message with a second one behind it, so both lanes (whole in a chunk, and
    // split across chunks) are taken by some splits.
    const block2 = Buffer.from('second block, different bytes');
    const extra = Buffer.concat([encodePieceHeader(5, 0, block2.length), block2]);
    const all = Buffer.concat([bytes, extra]);
    const want = [...expected, { type: 'piece', index: 5, begin: 0, block: block2 }];
    fc.assert(
      fc.property(fc.array(fc.nat(all.length), { maxLength: 30 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const msgs: WireMessage[] = [];
        const p = new WireParser(1 << 20, (m) =>
          msgs.push(
            m.type === 'piece'
              ? { ...m, block: Buffer.from(m.block) }
              : m.type === 'bitfield'
                ? { ...m, bits: Buffer.from(m.bits) }
                : m.type === 'extended'
                  ? { ...m, payload: Buffer.from(m.payload) }
                  : m,
          ),
        );
        p.onPieceBlock = (index, begin, src, start, length) =>
          msgs.push({
            type: 'piece',
            index,
            begin,
            block: Buffer.from(src.subarray(start, start + length)),
          });
        const shared = Buffer.alloc(all.length);
        let prev = 0;
        for (const c of [...points, all.length]) {
          all.copy(shared, 0, prev, c);
          p.push(shared.subarray(0, c - prev), true);
          shared.fill(0xee);
          prev = c;
        }
        expect(msgs).toEqual(want);
        expect(p.pending).toBe(0);
      }),
    );
  });

  it('rejects a message longer than the cap before buffering it', () => {
    const hs = encodeHandshake(ih, pid, { fast: false, extended: false });
    const big = Buffer.alloc(4);
    big.writeUInt32BE(1_000_001);
    expect(() => parseAll([hs, big], 1_000_000)).toThrow(WireProtocolError);
  });

  it('rejects a bad handshake and malformed fixed-size messages', () => {
    expect(() => parseAll([Buffer.from('GET / HTTP/1.1\r\n\r\n'.padEnd(68))])).toThrow(
      WireProtocolError,
    );
    const hs = encodeHandshake(ih, pid, { fast: false, extended: false });
    const badHave = Buffer.from([0, 0, 0, 3, MSG.have, 0, 0]);
    expect(() => parseAll([hs, badHave])).toThrow(WireProtocolError);
  });

  it('never throws anything but WireProtocolError on random input (property)', () => {
    const hs = encodeHandshake(ih, pid, { fast: true, extended: true });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (junk) => {
        try {
          parseAll([hs, Buffer.from(junk)], 4096);
        } catch (e) {
          expect(e).toBeInstanceOf(WireProtocolError);
        }
      }),
    );
  });
});

describe('checkHandshake', () => {
  const other = Buffer.alloc(20, 0x77);
  const hs = (infoHash: Buffer, peerId: Buffer): Handshake => ({
    infoHash,
    peerId,
    fast: true,
    extended: true,
  });
  it('accepts our torrent, flags ourselves and banned peer ids, refuses another torrent', () => {
    expect(checkHandshake(hs(ih, other), ih, pid, new Set())).toBe('ok');
    expect(checkHandshake(hs(ih, pid), ih, pid, new Set())).toBe('self');
    expect(checkHandshake(hs(ih, other), ih, pid, new Set([other.toString('hex')]))).toBe('banned');
    expect(() => checkHandshake(hs(other, other), ih, pid, new Set())).toThrow(
      new WireProtocolError('handshake for another torrent'),
    );
  });
});
