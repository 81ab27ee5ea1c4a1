import { InvalidArgumentError } from '../errors.js';
import { TorrentNotFoundError } from './errors.js';
import { resolveTorrentId } from './id.js';

const a = 'ab12'.padEnd(40, '0');
const b = 'ab13'.padEnd(40, '1');
const c = 'cd00'.padEnd(40, '2');

describe('resolveTorrentId', () => {
  it('finds a full id and a unique prefix, any case', () => {
    expect(resolveTorrentId(a, [a, b, c])).toBe(a);
    expect(resolveTorrentId('AB12', [a, b, c])).toBe(a);
    expect(resolveTorrentId(' cd00 ', [a, b, c])).toBe(c);
  });
  it('refuses ambiguous prefixes, short or non-hex text', () => {
    expect(() => resolveTorrentId('ab1', [a, b])).toThrow(InvalidArgumentError);
    expect(() => resolveTorrentId('ab1', [a])).toThrow(/at least 4/);
    expect(() => resolveTorrentId('ab1x', [a])).toThrow(InvalidArgumentError);
    expect(() => resolveTorrentId(a + '0', [a])).toThrow(InvalidArgumentError);
  });
  it('reports an ambiguous prefix with the number of matches', () => {
    expect(() => resolveTorrentId('ab1', [a, b])).toThrow(/at least 4/);
    expect(() => resolveTorrentId('ab1'.padEnd(4, '2'), [a, b])).not.toThrow();
    const d = 'ab12'.padEnd(40, '9');
    expect(() => resolveTorrentId('ab12', [a, d])).toThrow(/matches 2 torrents/);
  });
  it('reports an unknown id as not found', () => {
    expect(() => resolveTorrentId('ffff', [a, b])).toThrow(TorrentNotFoundError);
    expect(() => resolveTorrentId(c, [a, b])).toThrow(TorrentNotFoundError);
  });
});
