/**
 * btctl (control/infohash.ts) and the agent (agent/torrent/magnet.ts) parse magnet links
 * separately (agent/ must not import control/); they must agree on which v1 links are
 * valid and on the info hash they name.
 */
import fc from 'fast-check';
import { parseInfoHash } from '../../control/infohash.js';
import { parseMagnet } from '../../agent/torrent/magnet.js';

const ALPHABET = [...'0123456789abcdefABCDEFxyzXYZ234567%&=:'];

function agree(link: string): void {
  let ours: Buffer | null = null;
  let theirs: Buffer | null = null;
  try {
    ours = parseMagnet(link).infoHash;
  } catch {
    ours = null;
  }
  try {
    theirs = parseInfoHash(link);
  } catch {
    theirs = null;
  }
  expect(ours).toEqual(theirs);
}

it('btctl and the agent read the same info hash from v1 magnet links (property)', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 20, maxLength: 20 }),
      fc.constantFrom('hex', 'HEX', 'base32', 'base32lower'),
      fc.string({ maxLength: 40 }),
      (h, form, dn) => {
        const b = Buffer.from(h);
        let text = b.toString('hex');
        if (form === 'HEX') text = text.toUpperCase();
        if (form.startsWith('base32')) {
          const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
          let bits = '';
          for (const x of b) bits += x.toString(2).padStart(8, '0');
          text = '';
          for (let i = 0; i < 160; i += 5) text += A[parseInt(bits.slice(i, i + 5), 2)];
          if (form === 'base32lower') text = text.toLowerCase();
        }
        const link = `magnet:?dn=${encodeURIComponent(dn)}&xt=urn:btih:${text}`;
        expect(parseMagnet(link).infoHash).toEqual(b);
        agree(link);
      },
    ),
  );
});

it('both refuse the same malformed xt values (property)', () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...ALPHABET), { minLength: 0, maxLength: 45 }), (chars) =>
      agree(`magnet:?xt=urn:btih:${chars.join('')}`),
    ),
  );
});
