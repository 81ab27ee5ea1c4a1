/** The tracker's logic over a real Replica and Store (time is a parameter). */
import bencodeLib, { type BValue } from 'bencode';
import { Replica } from '../replica.js';
import { checkAnnounceAddr } from '../security/announce-addr.js';
import { RateLimiter } from '../security/rate-limit.js';
import { Store } from '../store/store.js';
import {
  DEFAULT_TRACKER_OPTIONS,
  Tracker,
  type TrackerGuard,
  type TrackerOptions,
} from './tracker.js';

const IH = Buffer.from('aabbccddeeff00112233445566778899aabbccdd', 'hex');
const KEY = IH.toString('hex');
const esc = (b: Buffer): string =>
  [...b].map((x) => '%' + x.toString(16).padStart(2, '0')).join('');

interface Reply {
  interval?: number;
  complete?: number;
  incomplete?: number;
  peers?: Uint8Array | { ip: Uint8Array; port: number; 'peer id'?: Uint8Array }[];
  'failure reason'?: Uint8Array;
  files?: Record<string, { complete: number; incomplete: number; downloaded: number }>;
}

function decode(body: Buffer): Reply {
  return bencodeLib.decode(body) as BValue as unknown as Reply;
}

/** host:port pairs of a compact peer list (BEP 23). */
function compact(peers: Reply['peers']): string[] {
  const b = Buffer.from(peers as Uint8Array);
  const out: string[] = [];
  for (let i = 0; i + 6 <= b.length; i += 6) {
    out.push(`${b[i]}.${b[i + 1]}.${b[i + 2]}.${b[i + 3]}:${b.readUInt16BE(i + 4)}`);
  }
  return out;
}

function setup(options: Partial<TrackerOptions> = {}, maxInfoHashes = 1000, guard?: TrackerGuard) {
  let now = 1_800_000_000_000;
  const replica = new Replica(new Store({ maxInfoHashes }), 'node-a', () => now);
  const tracker = new Tracker(replica, { ...DEFAULT_TRACKER_OPTIONS, ...options }, guard);
  const announce = async (
    ip: string,
    port: number,
    extra = '',
    peer = port,
    hash = IH,
  ): Promise<Reply> =>
    decode(
      (
        await tracker.announce(
          `info_hash=${esc(hash)}&peer_id=-XX0001-${String(peer).padStart(12, '0')}&port=${port}&uploaded=0&downloaded=0${extra.includes('left=') ? '' : '&left=10'}${extra}`,
          ip,
        )
      ).body,
    );
  return { replica, tracker, announce, tick: (ms: number) => (now += ms), now: () => now };
}

describe('Tracker announce', () => {
  it("registers the requester's observed IP and port and returns the others, newest first", async () => {
    const { replica, announce, tick } = setup();
    expect(compact((await announce('10.0.0.1', 6881, '&event=started')).peers)).toEqual([]);
    tick(1000);
    await announce('::ffff:10.0.0.2', 6882, '&left=0');
    tick(1000);
    const r = await announce('10.0.0.3', 6883);
    expect(compact(r.peers)).toEqual(['10.0.0.2:6882', '10.0.0.1:6881']);
    expect(r).toMatchObject({ interval: 30, complete: 1, incomplete: 2 });
    expect(replica.lookup(KEY, 0).map((p) => [p.addr, p.origin, p.left])).toEqual([
      ['10.0.0.3:6883', 'node-a', 10],
      ['10.0.0.2:6882', 'node-a', 0],
      ['10.0.0.1:6881', 'node-a', 10],
    ]);
    expect(replica.lookup(KEY, 0)[2].peerId).toBe('-XX0001-000000006881');
  });

  it('hands out providers learned from anywhere, but not peer-id-less overlay addresses', async () => {
    const { replica, announce } = setup();
    replica.announce(KEY, { addr: '10.1.0.1:51413', peerId: '-TR3000-abcdefghijkl', left: 0 });
    replica.announce(KEY, { addr: '10.1.0.2:6000', peerId: '', left: 0 });
    replica.announce(KEY, { addr: 'seed.example:6881', peerId: '-LT1000-abcdefghijkl', left: 0 });
    expect(compact((await announce('10.0.0.1', 6881)).peers)).toEqual(['10.1.0.1:51413']);
    const dict = (await announce('10.0.0.1', 6881, '&compact=0')).peers as {
      ip: Uint8Array;
      port: number;
    }[];
    expect(dict.map((p) => `${Buffer.from(p.ip).toString()}:${p.port}`).sort()).toEqual([
      '10.1.0.1:51413',
      'seed.example:6881',
    ]);
  });

  it('returns numwant peers, 50 by default, never more than the cap', async () => {
    const { replica, announce } = setup({ maxNumwant: 80 });
    for (let i = 0; i < 120; i++) {
      replica.announce(KEY, {
        addr: `10.2.0.${i}:6881`,
        peerId: `-XX0001-${'p'.repeat(12)}`,
        left: 1,
      });
    }
    expect(compact((await announce('10.0.0.1', 1)).peers)).toHaveLength(50);
    expect(compact((await announce('10.0.0.1', 1, '&numwant=7')).peers)).toHaveLength(7);
    expect(compact((await announce('10.0.0.1', 1, '&numwant=1000')).peers)).toHaveLength(80);
    expect(compact((await announce('10.0.0.1', 1, '&numwant=0')).peers)).toHaveLength(0);
  });

  it('stopped writes a tombstone: the peer is gone from lookups and replies', async () => {
    const { replica, announce, tick } = setup();
    await announce('10.0.0.1', 6881);
    tick(10);
    await announce('10.0.0.2', 6882);
    tick(10);
    const r = await announce('10.0.0.1', 6881, '&event=stopped');
    expect(compact(r.peers)).toEqual([]);
    expect(replica.lookup(KEY, 0).map((p) => p.addr)).toEqual(['10.0.0.2:6882']);
    expect(replica.store.get(KEY, '10.0.0.1:6881')?.removed).toBe(true);
    expect(compact((await announce('10.0.0.3', 6883)).peers)).toEqual(['10.0.0.2:6882']);
  });

  it('does not re-store an unchanged announce repeated within min interval', async () => {
    const { replica, tracker, announce, tick } = setup();
    const changes: number[] = [];
    replica.onChange((_k, r) => changes.push(r.lastSeen));
    await announce('10.0.0.1', 6881);
    tick(5000);
    await announce('10.0.0.1', 6881); // same peer, same left, 5 s later: nothing new to spread
    expect(changes).toHaveLength(1);
    expect(tracker.counters.coalesced).toBe(1);
    await announce('10.0.0.1', 6881, '&left=3'); // progress is news
    tick(15_000);
    await announce('10.0.0.1', 6881, '&left=3'); // past min interval: refreshed
    tick(1);
    await announce('10.0.0.1', 6881, '&left=3&event=completed'); // events always count
    expect(changes).toHaveLength(4);
    expect(replica.store.get(KEY, '10.0.0.1:6881')?.lastSeen).toBe(changes[3]);
  });

  it('expires a client that stops announcing after the Store TTL', async () => {
    const { announce, tick } = setup();
    await announce('10.0.0.1', 6881);
    tick(89_000);
    expect(compact((await announce('10.0.0.2', 6882)).peers)).toEqual(['10.0.0.1:6881']);
    tick(2000);
    expect(compact((await announce('10.0.0.3', 6883)).peers)).toEqual(['10.0.0.2:6882']);
  });

  it('honours ip only from loopback or when trusted, and refuses a bad one', async () => {
    const { replica, announce } = setup();
    await announce('10.0.0.9', 6881, '&ip=10.9.9.9');
    await announce('127.0.0.1', 6882, '&ip=10.8.8.8');
    await announce('::1', 6883, '&ip=2001:db8::7');
    expect(
      replica
        .lookup(KEY, 0)
        .map((p) => p.addr)
        .sort(),
    ).toEqual(['10.0.0.9:6881', '10.8.8.8:6882', '[2001:db8::7]:6883']);
    expect(
      Buffer.from(
        (await announce('127.0.0.1', 1, '&ip=not a host!'))['failure reason']!,
      ).toString(),
    ).toMatch(/^ip must be/);
    const trusted = setup({ trustIp: true });
    await trusted.announce('10.0.0.9', 6881, '&ip=10.9.9.9');
    expect(trusted.replica.lookup(KEY, 0).map((p) => p.addr)).toEqual(['10.9.9.9:6881']);
  });

  it('answers bad requests with a failure reason and counts them', async () => {
    const { tracker } = setup();
    const out = await tracker.announce('info_hash=short&peer_id=x&port=1&left=0', '10.0.0.1');
    expect(out.result).toBe('bad_info_hash');
    expect(Buffer.from(decode(out.body)['failure reason']!).toString()).toBe(
      'info_hash must be 20 bytes, got 5',
    );
    expect(tracker.counters.failures).toEqual({ bad_info_hash: 1 });
  });

  it('says the tracker is full when the Store holds its maximum of info hashes', async () => {
    const { announce } = setup({}, 1);
    expect((await announce('10.0.0.1', 1))['failure reason']).toBeUndefined();
    const other = Buffer.alloc(20, 7);
    const r = await announce('10.0.0.1', 1, '', 1, other);
    expect(Buffer.from(r['failure reason']!).toString()).toMatch(/maximum of 1 info hashes/);
  });
});

describe('Tracker with the security layer', () => {
  it('refuses over the per-source rate and a foreign ip, with failure reasons', async () => {
    let clock = 0;
    const limiter = new RateLimiter({ ratePerSec: 1, burst: 3, maxSources: 100 });
    const guard: TrackerGuard = {
      allow: (ip) => limiter.take(ip, clock),
      refuseAddr: (ip, addr) => {
        const v = checkAnnounceAddr(ip, addr, {
          trustedSource: false,
          tlsClient: false,
          allowForeign: false,
        });
        return v.ok ? undefined : v.message;
      },
    };
    const { tracker, announce, replica, now } = setup({ trustIp: true }, 1000, guard);
    clock = now();
    expect((await announce('10.0.0.1', 1))['failure reason']).toBeUndefined();
    const foreign = await announce('10.0.0.1', 2, '&ip=10.9.9.9');
    expect(Buffer.from(foreign['failure reason']!).toString()).toMatch(/10\.9\.9\.9/);
    expect((await announce('10.0.0.1', 3, '&ip=10.0.0.1'))['failure reason']).toBeUndefined();
    const limited = await announce('10.0.0.1', 4);
    expect(Buffer.from(limited['failure reason']!).toString()).toBe(
      'too many requests from this address',
    );
    expect(tracker.scrape(`info_hash=${esc(IH)}`, '10.0.0.1').result).toBe('rate_limited');
    expect((await announce('10.0.0.2', 5))['failure reason']).toBeUndefined();
    expect(
      replica
        .lookup(KEY, 0)
        .map((p) => p.addr)
        .sort(),
    ).toEqual(['10.0.0.1:1', '10.0.0.1:3', '10.0.0.2:5']);
    expect(tracker.counters.failures).toEqual({ foreign_addr: 1, rate_limited: 2 });
  });
});

describe('Tracker scrape', () => {
  it('counts live seeders, leechers and completions reported here (BEP 48)', async () => {
    const { tracker, announce } = setup();
    await announce('10.0.0.1', 1, '&left=0');
    await announce('10.0.0.2', 2, '&left=5');
    await announce('10.0.0.3', 3, '&left=0&event=completed');
    await announce('10.0.0.4', 4, '&left=0&event=completed');
    await announce('10.0.0.4', 4, '&left=0&event=stopped');
    const unknown = Buffer.alloc(20, 0xfe); // not UTF-8: the decoder names it by hex
    const r = decode(
      tracker.scrape(`info_hash=${esc(IH)}&info_hash=${esc(unknown)}`, '10.0.0.1').body,
    );
    expect(r.files).toEqual({
      [KEY]: { complete: 2, incomplete: 1, downloaded: 2 },
      [unknown.toString('hex')]: { complete: 0, incomplete: 0, downloaded: 0 },
    });
    expect(tracker.scrape('', '10.0.0.1').result).toBe('bad_scrape');
  });
});
