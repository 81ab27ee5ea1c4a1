import bencode from 'bencode';
import { TrackerError } from './errors.js';
import { parsePeerAddr } from './peer-source.js';
import { announceUrl, escapeBytes, parseAnnounceResponse } from './tracker.js';
import { TrackerServer } from './tracker-server.js';
import { TrackerClient } from './tracker.js';

const enc = (x: unknown): Uint8Array => bencode.encode(x);

describe('tracker client', () => {
  it('parses compact (BEP 23) and dictionary peers and the interval', () => {
    const compact = Buffer.from([127, 0, 0, 1, 0x1a, 0xe1, 10, 0, 0, 2, 0, 80]);
    expect(parseAnnounceResponse(enc({ interval: 900, peers: compact }))).toEqual({
      intervalSec: 900,
      peers: [
        { host: '127.0.0.1', port: 6881 },
        { host: '10.0.0.2', port: 80 },
      ],
    });
    const dict = parseAnnounceResponse(
      enc({ interval: 1, peers: [{ ip: '127.0.0.2', port: 7000, 'peer id': 'x' }, { ip: 'bad' }] }),
    );
    expect(dict.peers).toEqual([{ host: '127.0.0.2', port: 7000 }]);
    expect(dict.intervalSec).toBe(5); // floored
  });

  it('turns failure reason and garbage into TrackerError', () => {
    expect(() => parseAnnounceResponse(enc({ 'failure reason': 'nope' }))).toThrow(/nope/);
    expect(() => parseAnnounceResponse(Buffer.from('<html>'))).toThrow(TrackerError);
  });

  it('escapes binary info hashes and builds the announce query', () => {
    expect(escapeBytes(Buffer.from([0x00, 0x41, 0xff, 0x2e]))).toBe('%00A%FF.');
    const u = announceUrl('http://t/announce?k=1', {
      infoHash: Buffer.alloc(20, 0xab),
      peerId: Buffer.alloc(20, 0x41),
      port: 6881,
      uploaded: 1,
      downloaded: 2,
      left: 3,
      event: 'started',
      numwant: 50,
    });
    expect(u).toContain('http://t/announce?k=1&info_hash=%AB%AB');
    expect(u).toContain('&compact=1');
    expect(u).toContain('&event=started');
  });

  it('announces to a real HTTP tracker and gets the other peers back', async () => {
    const srv = new TrackerServer();
    const url = await srv.listen();
    try {
      const t = new TrackerClient([[url]]);
      const base = {
        infoHash: Buffer.alloc(20, 9),
        uploaded: 0,
        downloaded: 0,
        left: 0,
        numwant: 50,
        event: 'started' as const,
      };
      await t.announce({ ...base, peerId: Buffer.alloc(20, 1), port: 7001 });
      const r = await t.announce({ ...base, peerId: Buffer.alloc(20, 2), port: 7002 });
      expect(r.peers).toEqual([{ host: '127.0.0.1', port: 7001 }]);
      expect(srv.events.map((e) => e.event)).toEqual(['started', 'started']);
    } finally {
      await srv.close();
    }
  });

  it('parses host:port peer addresses', () => {
    expect(parsePeerAddr('127.0.0.1:6881')).toEqual({ host: '127.0.0.1', port: 6881 });
    expect(parsePeerAddr('[::1]:6881')).toEqual({ host: '::1', port: 6881 });
    expect(() => parsePeerAddr('127.0.0.1')).toThrow();
    expect(() => parsePeerAddr('h:70000')).toThrow();
  });
});
