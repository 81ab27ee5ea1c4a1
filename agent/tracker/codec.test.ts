/**
 * The tracker's pure parts: query decoding, bencoding (checked against the
 * `bencode` package's decoder), announce/scrape validation, reply encoding.
 */
import bencodeLib, { type BValue } from 'bencode';
import fc from 'fast-check';
import { bencode, type BencodeValue } from './bencode.js';
import { TrackerRequestError, type TrackerFailure } from './errors.js';
import { parseQuery, type QueryParams } from './query.js';
import {
  encodeAnnounceReply,
  encodeFailure,
  encodeScrapeReply,
  ipv4Bytes,
  ipv6Bytes,
} from './reply.js';
import { parseAnnounce, parseScrape } from './request.js';

const LIMITS = { maxParams: 100, maxValueBytes: 1024 };
const IH = Buffer.from('aabbccddeeff00112233445566778899aabbccdd', 'hex');
/** Percent-encodes every byte, as clients do for info_hash. */
const esc = (b: Buffer): string =>
  [...b].map((x) => '%' + x.toString(16).padStart(2, '0')).join('');
const announceQuery = (extra = ''): string =>
  `info_hash=${esc(IH)}&peer_id=-AR1000-abcdefghijkl&port=6881&uploaded=0&downloaded=0&left=100${extra}`;

function reasonOf(fn: () => unknown): TrackerFailure | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof TrackerRequestError) return err.reason;
    throw err;
  }
  return undefined;
}

/**
 * The bencode package names a dictionary key by its UTF-8 text, or by its hex
 * form when the key bytes are not valid UTF-8; this maps expected values alike.
 */
function asDecoded(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(asDecoded);
  if (typeof v === 'object' && v !== null) {
    return Object.fromEntries(
      Object.entries(v).map(([k, x]) => {
        const bytes = Buffer.from(k, 'latin1');
        const text = bytes.toString('utf8');
        return [text.includes('\ufffd') ? bytes.toString('hex') : text, asDecoded(x)];
      }),
    );
  }
  return v;
}

/** Decodes with the bencode package; byte strings become latin1 strings. */
function decode(buf: Buffer): unknown {
  const plain = (v: BValue): unknown => {
    if (v instanceof Uint8Array) return Buffer.from(v).toString('latin1');
    if (Array.isArray(v)) return v.map(plain);
    if (typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
    }
    return v;
  };
  return plain(bencodeLib.decode(buf));
}

describe('parseQuery', () => {
  it('decodes %XX to raw bytes (not UTF-8) and + to a space', () => {
    const q = parseQuery(`info_hash=${esc(IH)}&key=a+b&x=%C3%A9`, LIMITS);
    expect(Buffer.from(q.get('info_hash')![0], 'latin1')).toEqual(IH);
    expect(q.get('key')).toEqual(['a b']);
    expect(q.get('x')).toEqual(['\u00c3\u00a9']);
  });

  it('keeps repeated names in order, empty values, and skips empty pairs', () => {
    const q = parseQuery('info_hash=a&&info_hash=b&flag&e=', LIMITS);
    expect(q.get('info_hash')).toEqual(['a', 'b']);
    expect(q.get('flag')).toEqual(['']);
    expect(q.get('e')).toEqual(['']);
    expect(parseQuery('', LIMITS).size).toBe(0);
  });

  it('refuses bad escapes and over-large queries', () => {
    expect(reasonOf(() => parseQuery('a=%G1', LIMITS))).toBe('bad_query');
    expect(reasonOf(() => parseQuery('a=%4', LIMITS))).toBe('bad_query');
    expect(reasonOf(() => parseQuery('a=1&'.repeat(101), LIMITS))).toBe('bad_query');
    expect(reasonOf(() => parseQuery(`a=${'x'.repeat(1025)}`, LIMITS))).toBe('bad_query');
    expect(reasonOf(() => parseQuery(`a=${'%41'.repeat(1024)}`, LIMITS))).toBeUndefined();
  });

  it('round-trips any bytes percent-encoded', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const b = Buffer.from(bytes);
        const q = parseQuery(`v=${esc(b)}`, LIMITS);
        expect(Buffer.from(q.get('v')![0], 'latin1')).toEqual(b);
      }),
    );
  });
});

describe('bencode', () => {
  it('writes BEP 3 forms with dictionary keys sorted by raw bytes', () => {
    expect(bencode({ b: 1, a: 'xy', c: [0, -3], '\u00ff': '' }).toString('latin1')).toBe(
      'd1:a2:xy1:bi1e1:cli0ei-3ee1:\u00ff0:e',
    );
    expect(bencode(Buffer.from([0, 255])).toString('latin1')).toBe('2:\u0000\u00ff');
    expect(() => bencode(1.5)).toThrow(TypeError);
  });

  it('is read back identically by an independent decoder', () => {
    const byteString = fc
      .uint8Array({ maxLength: 24 })
      .map((b) => Buffer.from(b).toString('latin1'));
    const value: fc.Arbitrary<BencodeValue> = fc.letrec<{ v: BencodeValue }>((tie) => ({
      v: fc.oneof(
        { depthSize: 'small' },
        fc.integer(),
        byteString,
        fc.array(tie('v'), { maxLength: 4 }),
        fc.dictionary(byteString, tie('v'), { maxKeys: 4 }),
      ),
    })).v;
    fc.assert(
      fc.property(value, (v) => {
        expect(decode(bencode(v))).toEqual(asDecoded(v));
      }),
    );
  });
});

describe('parseAnnounce', () => {
  const parse = (q: string) => parseAnnounce(parseQuery(q, LIMITS));

  it('reads the BEP 3 parameters, compact by default', () => {
    const r = parse(announceQuery('&event=started&numwant=20&key=x'));
    expect(r).toEqual({
      infoHash: IH.toString('hex'),
      peerId: '-AR1000-abcdefghijkl',
      port: 6881,
      uploaded: 0,
      downloaded: 0,
      left: 100,
      event: 'started',
      compact: true,
      noPeerId: false,
      numwant: 20,
      ip: undefined,
    });
    expect(parse(announceQuery('&compact=0&no_peer_id=1&ip=10.0.0.1'))).toMatchObject({
      compact: false,
      noPeerId: true,
      ip: '10.0.0.1',
    });
    expect(parse(announceQuery('&numwant=-1')).numwant).toBeUndefined();
    expect(parse(announceQuery('&event=')).event).toBe('');
    expect(parse(announceQuery('&event=paused')).event).toBe('paused');
  });

  it.each<[string, string, TrackerFailure]>([
    ['no info_hash', 'peer_id=-AR1000-abcdefghijkl&port=1&left=0', 'missing_param'],
    [
      'short info_hash',
      `info_hash=abc&peer_id=-AR1000-abcdefghijkl&port=1&left=0`,
      'bad_info_hash',
    ],
    ['no peer_id', `info_hash=${esc(IH)}&port=1&left=0`, 'missing_param'],
    ['short peer_id', `info_hash=${esc(IH)}&peer_id=x&port=1&left=0`, 'bad_peer_id'],
    ['port 0', `info_hash=${esc(IH)}&peer_id=-AR1000-abcdefghijkl&port=0&left=0`, 'bad_port'],
    [
      'port 70000',
      `info_hash=${esc(IH)}&peer_id=-AR1000-abcdefghijkl&port=70000&left=0`,
      'bad_port',
    ],
    ['no left', `info_hash=${esc(IH)}&peer_id=-AR1000-abcdefghijkl&port=1`, 'missing_param'],
    [
      'negative left',
      `info_hash=${esc(IH)}&peer_id=-AR1000-abcdefghijkl&port=1&left=-1`,
      'bad_number',
    ],
    [
      'huge left',
      `info_hash=${esc(IH)}&peer_id=-AR1000-abcdefghijkl&port=1&left=9007199254740993`,
      'bad_number',
    ],
    ['fractional uploaded', `${announceQuery()}&uploaded=1.5`, 'bad_number'],
    ['unknown event', `${announceQuery()}&event=finished`, 'bad_event'],
    ['bad numwant', `${announceQuery()}&numwant=lots`, 'bad_number'],
  ])('refuses %s', (_name, q, reason) => {
    expect(reasonOf(() => parse(q))).toBe(reason);
  });
});

describe('parseScrape', () => {
  const q = (n: number): QueryParams =>
    parseQuery(Array.from({ length: n }, () => `info_hash=${esc(IH)}`).join('&'), LIMITS);
  it('returns the distinct info hashes; refuses a full scrape and too many', () => {
    expect(parseScrape(q(3), 64)).toEqual([IH.toString('hex')]);
    expect(reasonOf(() => parseScrape(q(0), 64))).toBe('bad_scrape');
    expect(reasonOf(() => parseScrape(q(65), 64))).toBe('bad_scrape');
  });
});

describe('replies', () => {
  const peers = [
    { host: '10.0.0.1', port: 6881, peerId: '-AR1000-abcdefghijkl' },
    { host: '2001:db8::1', port: 51413, peerId: '-TR3000-abcdefghijkl' },
    { host: 'seed.example', port: 6882, peerId: '-LT1000-abcdefghijkl' },
  ];
  const base = {
    interval: 30,
    minInterval: 15,
    complete: 2,
    incomplete: 1,
    peers,
    noPeerId: false,
  };

  it('compact: IPv4 in peers (BEP 23), IPv6 in peers6 (BEP 7), names left out', () => {
    expect(decode(encodeAnnounceReply({ ...base, compact: true }))).toEqual({
      interval: 30,
      'min interval': 15,
      complete: 2,
      incomplete: 1,
      peers: '\x0a\x00\x00\x01\x1a\xe1',
      peers6: '\x20\x01\x0d\xb8' + '\x00'.repeat(11) + '\x01\xc8\xd5',
    });
  });

  it('dictionary: ip, port and peer id (left out with no_peer_id)', () => {
    const r = decode(encodeAnnounceReply({ ...base, compact: false })) as { peers: unknown[] };
    expect(r.peers).toEqual([
      { ip: '10.0.0.1', port: 6881, 'peer id': '-AR1000-abcdefghijkl' },
      { ip: '2001:db8::1', port: 51413, 'peer id': '-TR3000-abcdefghijkl' },
      { ip: 'seed.example', port: 6882, 'peer id': '-LT1000-abcdefghijkl' },
    ]);
    const n = decode(encodeAnnounceReply({ ...base, compact: false, noPeerId: true })) as {
      peers: unknown[];
    };
    expect(n.peers[0]).toEqual({ ip: '10.0.0.1', port: 6881 });
  });

  it('failure and scrape', () => {
    expect(encodeFailure('bad').toString()).toBe('d14:failure reason3:bade');
    expect(
      decode(
        encodeScrapeReply([
          { infoHash: IH.toString('hex'), complete: 1, incomplete: 2, downloaded: 3 },
        ]),
      ),
    ).toEqual(
      asDecoded({
        files: { [IH.toString('latin1')]: { complete: 1, downloaded: 3, incomplete: 2 } },
      }),
    );
  });

  it('parses IP literals to bytes', () => {
    expect(ipv4Bytes('1.2.3.4')).toBe('\x01\x02\x03\x04');
    expect(ipv4Bytes('1.2.3.256')).toBeUndefined();
    expect(ipv4Bytes('host')).toBeUndefined();
    const hex = (s: string | undefined): string | undefined =>
      s === undefined ? undefined : Buffer.from(s, 'latin1').toString('hex');
    expect(hex(ipv6Bytes('::1'))).toBe('0'.repeat(31) + '1');
    expect(hex(ipv6Bytes('::'))).toBe('0'.repeat(32));
    expect(hex(ipv6Bytes('fe80::1:2'))).toBe('fe80' + '0'.repeat(20) + '00010002');
    expect(hex(ipv6Bytes('1:2:3:4:5:6:7:8'))).toBe('00010002000300040005000600070008');
    expect(hex(ipv6Bytes('::ffff:1.2.3.4'))).toBe('0'.repeat(20) + 'ffff01020304');
    for (const bad of ['1:2:3:4:5:6:7', '1::2::3', '1:2:3:4:5:6:7:8:9', 'g::1', '::1.2.3', 'x']) {
      expect(ipv6Bytes(bad)).toBeUndefined();
    }
  });
});
