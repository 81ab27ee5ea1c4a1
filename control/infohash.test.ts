import { InfoHashParseError, parseInfoHash } from './infohash.js';

const HEX = 'aabbccddeeff00112233445566778899aabbccdd';
const RAW = Buffer.from(HEX, 'hex');

describe('parseInfoHash', () => {
  it.each([
    ['40 hex, lower case', HEX],
    ['40 hex, upper case', HEX.toUpperCase()],
    ['legacy %XX form', '%AA%BB%CC%DD%EE%FF%00%11%22%33%44%55%66%77%88%99%AA%BB%CC%DD'],
    ['base32', 'VK54ZXPO74ABCIRTIRKWM54ITGVLXTG5'],
    ['magnet (hex)', `magnet:?xt=urn:btih:${HEX}&dn=x`],
    ['magnet (base32)', 'magnet:?dn=x&xt=urn:btih:VK54ZXPO74ABCIRTIRKWM54ITGVLXTG5'],
  ])('accepts %s', (_name, text) => {
    expect(parseInfoHash(text)).toEqual(RAW);
  });

  it('accepts 64-hex v2 hashes and btmh magnets (BEP 52)', () => {
    const v2 = 'ab'.repeat(32);
    expect(parseInfoHash(v2)).toHaveLength(32);
    expect(parseInfoHash(`magnet:?xt=urn:btmh:1220${v2}`)).toEqual(Buffer.from(v2, 'hex'));
  });

  it('takes the v1 hash of a hybrid magnet whichever xt comes first (BEP 52)', () => {
    const v2 = 'cd'.repeat(32);
    for (const link of [
      `magnet:?xt=urn:btmh:1220${v2}&xt=urn:btih:${HEX}`,
      `magnet:?xt=urn:btih:${HEX}&xt=urn:btmh:1220${v2}`,
    ])
      expect(parseInfoHash(link)).toEqual(RAW);
  });

  it.each([
    '',
    'zz',
    HEX.slice(1),
    `${HEX}0`,
    '%AA%BB',
    'magnet:?xt=urn:btih:123',
    'VK54ZXPO7AARCIRTIRKWM54ITGVLXTG1',
  ])('refuses %j', (text) => {
    expect(() => parseInfoHash(text)).toThrow(InfoHashParseError);
  });
});
