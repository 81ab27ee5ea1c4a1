import fc from 'fast-check';
import { MagnetError } from './errors.js';
import { MAGNET_LIMITS, formatMagnet, isMagnetLink, parseMagnet } from './magnet.js';

const HEX = '0123456789abcdef0123456789abcdef01234567';

/** RFC 4648 base32 written independently of the parser. */
function base32(b: Buffer): string {
  const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const x of b) bits += x.toString(2).padStart(8, '0');
  let s = '';
  for (let i = 0; i < bits.length; i += 5) s += A[parseInt(bits.slice(i, i + 5).padEnd(5, '0'), 2)];
  return s;
}

function fieldOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(MagnetError);
    return (e as MagnetError).field;
  }
  throw new Error('did not throw');
}

describe('parseMagnet', () => {
  it('reads xt (hex), dn, repeated tr and x.pe', () => {
    const m = parseMagnet(
      `magnet:?xt=urn:btih:${HEX.toUpperCase()}&dn=My+File%20v2.iso` +
        '&tr=http%3A%2F%2F127.0.0.1%3A6969%2Fannounce&tr=udp://t.example:80' +
        '&tr=http%3A%2F%2F127.0.0.1%3A6969%2Fannounce&x.pe=127.0.0.1:6881&x.pe=[::1]:51413&xl=123',
    );
    expect(m.infoHashHex).toBe(HEX);
    expect(m.infoHash).toEqual(Buffer.from(HEX, 'hex'));
    expect(m.name).toBe('My File v2.iso');
    expect(m.trackers).toEqual(['http://127.0.0.1:6969/announce', 'udp://t.example:80']);
    expect(m.peers).toEqual([
      { host: '127.0.0.1', port: 6881 },
      { host: '::1', port: 51413 },
    ]);
  });

  it('accepts base32 hashes, indexed keys (xt.1, tr.1) and a hybrid v1+v2 link', () => {
    const h = Buffer.from(HEX, 'hex');
    expect(parseMagnet(`magnet:?xt=urn:btih:${base32(h)}`).infoHash).toEqual(h);
    expect(parseMagnet(`magnet:?xt=urn:btih:${base32(h).toLowerCase()}`).infoHash).toEqual(h);
    const m = parseMagnet(`MAGNET:?xt.1=urn:btih:${HEX}&tr.1=http://a/announce`);
    expect(m.infoHashHex).toBe(HEX);
    expect(m.trackers).toEqual(['http://a/announce']);
    expect(
      parseMagnet(`magnet:?xt=urn:btmh:1220${'ab'.repeat(32)}&xt=urn:btih:${HEX}`).infoHashHex,
    ).toBe(HEX);
    expect(parseMagnet(`magnet:?xt=urn:btih:${HEX}&xt=urn:btih:${HEX.toUpperCase()}`).name).toBe(
      '',
    );
  });

  it('names what is wrong', () => {
    expect(fieldOf(() => parseMagnet('http://example/x.torrent'))).toBe('magnet');
    expect(fieldOf(() => parseMagnet('magnet:?dn=x'))).toBe('xt');
    expect(fieldOf(() => parseMagnet(`magnet:?xt=urn:btih:${HEX.slice(1)}`))).toBe('xt');
    expect(fieldOf(() => parseMagnet(`magnet:?xt=urn:btih:${'1'.repeat(32)}`))).toBe('xt');
    expect(
      fieldOf(() => parseMagnet(`magnet:?xt=urn:btih:${HEX}&xt=urn:btih:${'0'.repeat(40)}`)),
    ).toBe('xt');
    expect(fieldOf(() => parseMagnet(`magnet:?xt=urn:btih:${HEX}&tr=not%20a%20url`))).toBe('tr');
    expect(fieldOf(() => parseMagnet(`magnet:?xt=urn:btih:${HEX}&x.pe=nohost`))).toBe('x.pe');
    expect(fieldOf(() => parseMagnet(`magnet:?xt=urn:btih:${HEX}&x.pe=h:70000`))).toBe('x.pe');
    expect(fieldOf(() => parseMagnet(`magnet:?xt=urn:btih:${HEX}&dn=${'n'.repeat(2000)}`))).toBe(
      'dn',
    );
    expect(fieldOf(() => parseMagnet(`magnet:?xt=urn:btih:${HEX}&${'a'.repeat(20000)}`))).toBe(
      'magnet',
    );
    const many = Array.from(
      { length: MAGNET_LIMITS.maxTrackers + 1 },
      (_, i) => `&tr=http://t${i}/`,
    );
    expect(fieldOf(() => parseMagnet(`magnet:?xt=urn:btih:${HEX}${many.join('')}`))).toBe('tr');
    expect(() => parseMagnet(`magnet:?xt=urn:btmh:1220${'ab'.repeat(32)}`)).toThrow(/v2/);
  });

  it('round-trips formatMagnet for any hash, name, trackers and peers (property)', () => {
    const peer = fc.record({
      host: fc.oneof(fc.ipV4(), fc.domain()),
      port: fc.integer({ min: 1, max: 65535 }),
    });
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 20, maxLength: 20 }),
        fc.string({ maxLength: 60 }),
        fc.uniqueArray(fc.webUrl(), { maxLength: 5 }),
        fc.uniqueArray(peer, { maxLength: 5, selector: (p) => `${p.host}:${p.port}` }),
        (hash, name, trackers, peers) => {
          const m = parseMagnet(formatMagnet({ infoHash: hash, name, trackers, peers }));
          expect(m.infoHash).toEqual(Buffer.from(hash));
          expect(m.name).toBe(name);
          expect(m.trackers).toEqual(trackers);
          expect(m.peers).toEqual(peers);
          // The base32 form names the same torrent.
          const b32 = parseMagnet(`magnet:?xt=urn:btih:${base32(Buffer.from(hash))}`);
          expect(b32.infoHash).toEqual(Buffer.from(hash));
        },
      ),
    );
  });

  it('never throws anything but MagnetError on arbitrary input (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        for (const text of [s, `magnet:?${s}`, `magnet:?xt=urn:btih:${HEX}&${s}`]) {
          try {
            parseMagnet(text);
          } catch (e) {
            expect(e).toBeInstanceOf(MagnetError);
          }
        }
      }),
    );
  });

  it('isMagnetLink tells links from file names', () => {
    expect(isMagnetLink(' Magnet:?xt=x')).toBe(true);
    expect(isMagnetLink('magnet.torrent')).toBe(false);
  });
});
