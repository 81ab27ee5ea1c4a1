import fc from 'fast-check';
import {
  decodeLegacyMessage,
  encodeGossip,
  encodeLegacyProvider,
  encodeLookupReply,
  formatLegacyInfoHash,
  FrameScanner,
  goQuote,
  legacyToRecord,
  parseLegacyInfoHash,
} from './codec.js';
import { LegacyProtocolError, type LegacyRejectReason } from './errors.js';
import type { ProviderRecord } from '../store/record.js';

const PCT = '%AA%BB%CC%DD%EE%FF%00%11%22%33%44%55%66%77%88%99%AA%BB%CC%DD';
const KEY = 'aabbccddeeff00112233445566778899aabbccdd';
const LIMITS = { maxProviders: 500 };

function reasonOf(fn: () => unknown): LegacyRejectReason | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof LegacyProtocolError) return err.reason;
    throw err;
  }
  return undefined;
}

describe('info hash forms', () => {
  it('parses the %XX form (either case) and 40 hex digits to the same key', () => {
    expect(parseLegacyInfoHash(PCT)).toBe(KEY);
    expect(parseLegacyInfoHash(PCT.toLowerCase())).toBe(KEY);
    expect(parseLegacyInfoHash(KEY.toUpperCase())).toBe(KEY);
  });

  it('writes the uppercase %XX form', () => {
    expect(formatLegacyInfoHash(KEY)).toBe(PCT);
    expect(formatLegacyInfoHash('ab'.repeat(32))).toBeUndefined();
  });

  it.each([
    '',
    'AABB',
    PCT.slice(0, 57),
    PCT + '%00',
    PCT.replace('%AA', '%GG'),
    PCT.replace('%AA', 'xAA'),
    KEY.slice(1) + 'g',
    'ab'.repeat(32),
  ])('refuses %j', (text) => {
    expect(reasonOf(() => parseLegacyInfoHash(text))).toBe('bad_info_hash');
  });

  it('round-trips every 20-byte key', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 20, maxLength: 20 }), (bytes) => {
        const key = Buffer.from(bytes).toString('hex');
        expect(parseLegacyInfoHash(formatLegacyInfoHash(key)!)).toBe(key);
      }),
    );
  });
});

describe('FrameScanner', () => {
  it('finds the end of the first object, ignoring braces in strings and what follows', () => {
    const text = ' \n{"a":"}{\\"}","b":[{"c":1}]}\n{"next":1}';
    const s = new FrameScanner();
    const end = s.push(Buffer.from(text));
    expect(text.slice(0, end)).toBe(' \n{"a":"}{\\"}","b":[{"c":1}]}');
  });

  it('works across chunk boundaries, byte by byte', () => {
    const text = '{"type":"lookup","info_hash":"\\\\{"}xyz';
    const s = new FrameScanner();
    let found = -1;
    for (let i = 0; i < text.length && found < 0; i++) {
      if (s.push(Buffer.from(text[i])) === 1) found = i + 1;
    }
    expect(text.slice(0, found)).toBe('{"type":"lookup","info_hash":"\\\\{"}');
  });

  it('reports an incomplete value as -1 and a non-object start as not_object', () => {
    expect(new FrameScanner().push(Buffer.from('{"type":"lookup"'))).toBe(-1);
    expect(reasonOf(() => new FrameScanner().push(Buffer.from('  null')))).toBe('not_object');
  });
});

describe('decodeLegacyMessage', () => {
  it('decodes the contract example announce', () => {
    const msg = decodeLegacyMessage(
      `{"type":"announce","info_hash":"${PCT}","providers":[{"addr":"10.0.0.7:6881","peer_id":"-GO0001-abcdefghijkl","left":0,"last_seen":1795371607}]}`,
      LIMITS,
    );
    expect(msg).toEqual({
      type: 'announce',
      infoHash: KEY,
      providers: [
        { addr: '10.0.0.7:6881', peerId: '-GO0001-abcdefghijkl', left: 0, lastSeen: 1795371607 },
      ],
      limit: 0,
    });
  });

  it('matches type and keys case-insensitively, later keys winning, null as zero value', () => {
    const msg = decodeLegacyMessage(
      `{"TYPE":"LooKup","Info_Hash":"${KEY}","limit":null,"LIMIT":7,"extra":{"x":[1]}}`,
      LIMITS,
    );
    expect(msg).toMatchObject({ type: 'lookup', infoHash: KEY, limit: 7 });
    const g = decodeLegacyMessage(
      `{"type":"gossip","info_hash":"${PCT}","providers":null}`,
      LIMITS,
    );
    expect(g.providers).toEqual([]);
  });

  it('accepts gossip without providers and announce without info_hash (no-ops)', () => {
    expect(decodeLegacyMessage(`{"type":"gossip","info_hash":"${PCT}"}`, LIMITS).providers).toEqual(
      [],
    );
    expect(decodeLegacyMessage(`{"type":"announce"}`, LIMITS).infoHash).toBeUndefined();
  });

  it('treats a negative limit as no limit, like Go (limit > 0 cuts)', () => {
    expect(
      decodeLegacyMessage(`{"type":"lookup","info_hash":"${PCT}","limit":-3}`, LIMITS).limit,
    ).toBe(0);
  });

  const p = (fields: string): string =>
    `{"type":"gossip","info_hash":"${PCT}","providers":[{${fields}}]}`;
  it.each<[string, LegacyRejectReason]>([
    ['{"type":"lookup"', 'invalid_json'],
    ['{"type":"lookup",}', 'invalid_json'],
    ['[1]', 'not_object'],
    ['{}', 'unknown_type'],
    ['{"type":"ping"}', 'unknown_type'],
    ['{"type":7}', 'bad_field_type'],
    ['{"type":"lookup"}', 'missing_info_hash'],
    ['{"type":"lookup","info_hash":""}', 'missing_info_hash'],
    ['{"type":"lookup","info_hash":"abc"}', 'bad_info_hash'],
    ['{"type":"lookup","info_hash":5}', 'bad_field_type'],
    [`{"type":"lookup","info_hash":"${PCT}","limit":"5"}`, 'bad_field_type'],
    [`{"type":"lookup","info_hash":"${PCT}","limit":1.5}`, 'bad_number'],
    [`{"type":"gossip","info_hash":"${PCT}","providers":{}}`, 'bad_field_type'],
    [`{"type":"gossip","info_hash":"${PCT}","providers":[1]}`, 'bad_field_type'],
    [`{"type":"gossip","info_hash":"${PCT}","providers":[null]}`, 'bad_addr'],
    [p('"addr":"10.0.0.7"'), 'bad_addr'],
    [p('"addr":"10.0.0.7:0"'), 'bad_addr'],
    [p('"addr":7'), 'bad_field_type'],
    [p('"addr":"10.0.0.7:1","peer_id":"' + 'x'.repeat(21) + '"'), 'bad_peer_id'],
    [p('"addr":"10.0.0.7:1","peer_id":"' + 'é'.repeat(11) + '"'), 'bad_peer_id'],
    [p('"addr":"10.0.0.7:1","left":-1'), 'bad_number'],
    [p('"addr":"10.0.0.7:1","left":9007199254740992'), 'bad_number'],
    [p('"addr":"10.0.0.7:1","left":"1"'), 'bad_field_type'],
    [p('"addr":"10.0.0.7:1","last_seen":1.25'), 'bad_number'],
    [p('"addr":"10.0.0.7:1","last_seen":-5'), 'bad_number'],
    [p('"addr":"10.0.0.7:1","last_seen":1e30'), 'bad_number'],
    [p('"addr":"10.0.0.7:1","last_seen":"1795371607"'), 'bad_field_type'],
  ])('refuses %s with %s', (text, reason) => {
    expect(reasonOf(() => decodeLegacyMessage(text, LIMITS))).toBe(reason);
  });

  it('refuses more providers than the bound', () => {
    const one = '{"addr":"10.0.0.7:1"}';
    const text = `{"type":"gossip","info_hash":"${PCT}","providers":[${Array(3).fill(one).join(',')}]}`;
    expect(reasonOf(() => decodeLegacyMessage(text, { maxProviders: 2 }))).toBe(
      'too_many_providers',
    );
    expect(decodeLegacyMessage(text, { maxProviders: 3 }).providers).toHaveLength(3);
  });

  it('never throws anything but LegacyProtocolError on arbitrary input', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc.jsonValue().map((v) => JSON.stringify(v)),
        ),
        (s) => {
          try {
            decodeLegacyMessage(s, LIMITS);
          } catch (err) {
            expect(err).toBeInstanceOf(LegacyProtocolError);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('legacyToRecord', () => {
  const opts = { nowMs: 1_795_371_608_500, maxSkewMs: 30_000, origin: 'legacy:10.0.0.1' };
  const base = { addr: '10.0.0.7:6881', peerId: '', left: 5 };

  it('stamps an announce with last_seen 0 with now; a gossip with 0 stays old', () => {
    expect(legacyToRecord({ ...base, lastSeen: 0 }, 'announce', opts).record.lastSeen).toBe(
      opts.nowMs,
    );
    expect(legacyToRecord({ ...base, lastSeen: 0 }, 'gossip', opts).record.lastSeen).toBe(0);
  });

  it('converts seconds to ms, marks the origin, and clamps the far future', () => {
    const r = legacyToRecord({ ...base, lastSeen: 1795371607 }, 'gossip', opts);
    expect(r).toEqual({
      record: { ...base, lastSeen: 1795371607000, origin: opts.origin, removed: false },
      clamped: false,
    });
    const far = legacyToRecord({ ...base, lastSeen: 2 ** 62 }, 'announce', opts);
    expect(far).toMatchObject({ record: { lastSeen: opts.nowMs }, clamped: true });
  });
});

describe('encoding', () => {
  const rec: ProviderRecord = {
    addr: '10.0.0.7:6881',
    peerId: '-GO0001-abcdefghijkl',
    left: 0,
    lastSeen: 1795371607999,
    origin: 'n1',
    removed: false,
  };

  it('writes ProviderMeta in Go field order with last_seen in whole seconds', () => {
    expect(encodeLegacyProvider(rec)).toBe(
      '{"addr":"10.0.0.7:6881","peer_id":"-GO0001-abcdefghijkl","left":0,"last_seen":1795371607}',
    );
  });

  it('writes the lookup reply as an array and a newline, [] when empty', () => {
    expect(encodeLookupReply([])).toBe('[]\n');
    expect(encodeLookupReply([rec, { ...rec, addr: '10.0.0.8:1', left: 9 }])).toBe(
      '[{"addr":"10.0.0.7:6881","peer_id":"-GO0001-abcdefghijkl","left":0,"last_seen":1795371607},' +
        '{"addr":"10.0.0.8:1","peer_id":"-GO0001-abcdefghijkl","left":9,"last_seen":1795371607}]\n',
    );
  });

  it('writes gossip like a Go node, providers omitted when empty', () => {
    expect(encodeGossip(PCT, [])).toBe(`{"type":"gossip","info_hash":"${PCT}"}\n`);
    expect(encodeGossip(PCT, [encodeLegacyProvider(rec)])).toBe(
      `{"type":"gossip","info_hash":"${PCT}","providers":[{"addr":"10.0.0.7:6881","peer_id":"-GO0001-abcdefghijkl","left":0,"last_seen":1795371607}]}\n`,
    );
  });

  it('quotes strings as Go encoding/json does', () => {
    expect(goQuote(Buffer.from('a<b>&"\\\n\t\x01\x08\x0c'))).toBe(
      '"a\\u003cb\\u003e\\u0026\\"\\\\\\n\\t\\u0001\\b\\f"',
    );
    expect(goQuote(Buffer.from('é\u2028', 'utf8'))).toBe('"é\\u2028"');
    // Each byte of invalid UTF-8 becomes \ufffd (Go), not one per sequence.
    expect(goQuote(Buffer.from([0x2d, 0xe2, 0x82, 0xff, 0x41]))).toBe('"-\\ufffd\\ufffd\\ufffdA"');
  });

  it('writes text that JSON.parse reads back to the same bytes for valid UTF-8', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 20 }), (s) => {
        expect(JSON.parse(goQuote(Buffer.from(s, 'utf8')))).toBe(
          Buffer.from(s, 'utf8').toString('utf8'),
        );
      }),
    );
  });
});
