/**
 * The announce hot path's pure parts against their simple references: the peer
 * picker against "filter, sort newest first, take want", and the compact reply
 * writer against the general reply encoder.
 */
import fc from 'fast-check';
import type { ProviderRecord } from '../store/record.js';
import { encodeCompactAnnounce } from './compact.js';
import { newestFirst, pickPeers } from './pick.js';
import { encodeAnnounceReply, type TrackerPeer } from './reply.js';

/** Store addrs of every kind the Store can hold, and some odd ones. */
const addrArb = fc.oneof(
  fc
    .tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255), fc.integer({ min: 1, max: 65535 }))
    .map(([a, b, c, d, p]) => `${a}.${b}.${c}.${d}:${p}`),
  fc.constantFrom(
    '127.0.0.1:6881',
    '010.0.0.1:80',
    '256.1.1.1:80',
    '1.2.3:80',
    '1.2.3.4.5:80',
    '1.2.3.4:',
    '1.2.3.4:0',
    '1.2.3.4:123456',
    '[1.2.3.4]:80',
    '[::1]:6881',
    '[2001:db8::7]:51413',
    '[::ffff:10.0.0.1]:80',
    'tracker.example:6881',
    'a-b_c:1',
  ),
);

const recordArb = (addr: string): fc.Arbitrary<ProviderRecord> =>
  fc.record({
    addr: fc.constant(addr),
    peerId: fc.constantFrom('', '-XX0001-000000000001', '-YY0002-abcdefghijkl'),
    left: fc.constantFrom(0, 0, 1, 1024),
    // Few distinct times, so ties (broken by addr) are common, as at 10 k announces/s.
    lastSeen: fc.integer({ min: 1000, max: 1010 }),
    origin: fc.constant('node-a'),
    removed: fc.nat(9).map((n) => n < 3),
  });

/** Records with unique addrs, as the Store holds them for one info hash. */
const recordsArb = fc
  .uniqueArray(addrArb, { maxLength: 120 })
  .chain((addrs) => fc.tuple(...addrs.map(recordArb)));

function reference(records: readonly ProviderRecord[], want: number, exclude: string) {
  const live = records.filter((r) => !r.removed).sort(newestFirst);
  const complete = live.filter((r) => r.left === 0).length;
  return {
    complete,
    incomplete: live.length - complete,
    peers: live.filter((r) => r.peerId !== '' && r.addr !== exclude).slice(0, Math.max(0, want)),
  };
}

function peerOf(addr: string): TrackerPeer {
  const colon = addr.lastIndexOf(':');
  let host = addr.slice(0, colon);
  if (host.startsWith('[')) host = host.slice(1, -1);
  return { host, port: Number(addr.slice(colon + 1)), peerId: '' };
}

describe('pickPeers', () => {
  it('equals filtering, sorting newest first (ties by addr) and taking want', () => {
    fc.assert(
      fc.property(
        recordsArb,
        fc.integer({ min: -1, max: 60 }),
        fc.nat(),
        fc.boolean(),
        (records, want, i, appendOrder) => {
          // Oldest first, as the Store's appends leave them (then the no-sort path runs).
          if (appendOrder) records.sort((a, b) => newestFirst(b, a));
          const exclude = records.length > 0 ? records[i % records.length].addr : '';
          expect(pickPeers(records, want, exclude)).toEqual(reference(records, want, exclude));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('hands out the newest when records were appended oldest first (the usual case)', () => {
    const records: ProviderRecord[] = Array.from({ length: 500 }, (_, i) => ({
      addr: `10.0.${i >> 8}.${i & 0xff}:6881`,
      peerId: '-XX0001-000000000001',
      left: i % 3,
      lastSeen: 1000 + i,
      origin: 'a',
      removed: false,
    }));
    const swarm = pickPeers(records, 3, records[499].addr);
    expect(swarm.peers.map((r) => r.lastSeen)).toEqual([1498, 1497, 1496]);
    expect(swarm.complete + swarm.incomplete).toBe(500);
  });
});

describe('encodeCompactAnnounce', () => {
  it('writes the same bytes as the general encoder, for every kind of addr', () => {
    fc.assert(
      fc.property(
        fc.array(addrArb, { maxLength: 60 }),
        fc.nat(100_000),
        fc.nat(100_000),
        (addrs, complete, incomplete) => {
          const counts = { interval: 30, minInterval: 15, complete, incomplete };
          const fast = encodeCompactAnnounce(
            counts,
            addrs.map((addr) => ({ addr })),
          );
          const general = encodeAnnounceReply({
            ...counts,
            peers: addrs.map(peerOf),
            compact: true,
            noPeerId: false,
          });
          expect(fast.toString('latin1')).toBe(general.toString('latin1'));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('writes 6 bytes per IPv4 peer and 18 per IPv6 peer, DNS names left out', () => {
    const out = encodeCompactAnnounce(
      { interval: 30, minInterval: 15, complete: 1, incomplete: 2 },
      [{ addr: '10.1.2.3:6881' }, { addr: 'seed.example:6881' }, { addr: '[::1]:80' }],
    ).toString('latin1');
    expect(out).toBe(
      'd8:completei1e10:incompletei2e8:intervali30e12:min intervali15e' +
        '5:peers6:\x0a\x01\x02\x03\x1a\xe1' +
        `6:peers618:${'\0'.repeat(15)}\x01\x00\x50e`,
    );
  });
});
