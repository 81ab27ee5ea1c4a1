import { status } from '@grpc/grpc-js';
import { AnnounceRequest } from '../generated/btoverlay/v1/overlay.js';
import { connect } from '../control/client.js';
import { btctl, randomInfoHash, startAgent, type AgentProcess } from './helpers/agent-process.js';
import { legacyExchange, rawGrpcCall } from './helpers/security.js';

/**
 * Verified announce addresses and per-source rate limits. Callers on other
 * hosts are played by connections from 127.0.0.5 (the agent is told to trust
 * only 127.0.0.1, so that address is "remote" to it).
 */

const REMOTE = '127.0.0.5';

function announceBytes(ih: Buffer, addr: string): Uint8Array {
  return AnnounceRequest.encode({
    infoHash: ih,
    provider: {
      addr,
      peerId: Buffer.alloc(0),
      left: 0n,
      lastSeen: 0n,
      origin: '',
      removed: false,
      originKey: Buffer.alloc(0),
      signature: Buffer.alloc(0),
    },
    removed: false,
  }).finish();
}

const pct = (hex: string) => hex.toUpperCase().replace(/(..)/g, '%$1');
const legacyAnnounce = (hex: string, addr: string) =>
  `{"type":"announce","info_hash":"${pct(hex)}","providers":[{"addr":"${addr}","peer_id":"","left":0,"last_seen":0}]}\n`;
const legacyLookup = (hex: string) => `{"type":"lookup","info_hash":"${pct(hex)}"}\n`;

async function lookupAddrs(addr: string, ih: Buffer): Promise<string[]> {
  const c = connect(addr);
  try {
    return (await c.lookup(ih)).map((p) => p.addr);
  } finally {
    c.close();
  }
}

async function refusals(addr: string): Promise<Record<string, number>> {
  const c = connect(addr);
  try {
    return (await c.status()).securityRefusals;
  } finally {
    c.close();
  }
}

describe('verified announce addresses', () => {
  let a: AgentProcess;
  let open: AgentProcess;

  beforeAll(async () => {
    [a, open] = await Promise.all([
      startAgent(['--trusted-sources', '127.0.0.1']),
      startAgent(['--trusted-sources', '127.0.0.1', '--allow-foreign-addr'], { host: '127.0.0.2' }),
    ]);
  }, 30_000);

  afterAll(async () => {
    await Promise.all([a, open].map((x) => x?.stop()));
  });

  it('gRPC: a forged addr is PERMISSION_DENIED with a message; the caller’s own addr is accepted', async () => {
    const ih = Buffer.from(randomInfoHash(), 'hex');
    const forged = await rawGrpcCall(
      a,
      '/btoverlay.v1.Overlay/Announce',
      announceBytes(ih, '127.0.0.9:6881'),
      REMOTE,
    );
    expect(forged.status).toBe(status.PERMISSION_DENIED);
    expect(forged.message).toMatch(/127\.0\.0\.9.*127\.0\.0\.5/);
    const byName = await rawGrpcCall(
      a,
      '/btoverlay.v1.Overlay/Announce',
      announceBytes(ih, 'victim.example:80'),
      REMOTE,
    );
    expect(byName.status).toBe(status.PERMISSION_DENIED);
    const own = await rawGrpcCall(
      a,
      '/btoverlay.v1.Overlay/Announce',
      announceBytes(ih, `${REMOTE}:6881`),
      REMOTE,
    );
    expect(own.status).toBe(status.OK);
    expect(await lookupAddrs(a.addr, ih)).toEqual([`${REMOTE}:6881`]);
    // A trusted (loopback 127.0.0.1) caller such as btctl may announce any address.
    const r = await btctl([
      'announce',
      ih.toString('hex'),
      '--addr',
      '10.5.0.1:6881',
      '--node',
      a.addr,
    ]);
    expect(r.code).toBe(0);
    expect((await refusals(a.addr))['foreign_addr.grpc']).toBe(2);
  });

  it('legacy: a forged announce is dropped and counted; the caller’s own address is stored', async () => {
    const hex = randomInfoHash();
    const ih = Buffer.from(hex, 'hex');
    await legacyExchange(a.port, legacyAnnounce(hex, '127.0.0.9:6881'), REMOTE);
    await legacyExchange(a.port, legacyAnnounce(hex, `${REMOTE}:6882`), REMOTE);
    expect(await lookupAddrs(a.addr, ih)).toEqual([`${REMOTE}:6882`]);
    expect((await refusals(a.addr))['foreign_addr.legacy']).toBe(1);
  });

  it('--allow-foreign-addr turns the check off', async () => {
    const ih = Buffer.from(randomInfoHash(), 'hex');
    const r = await rawGrpcCall(
      open,
      '/btoverlay.v1.Overlay/Announce',
      announceBytes(ih, '127.0.0.9:6881'),
      REMOTE,
    );
    expect(r.status).toBe(status.OK);
    expect(await lookupAddrs(open.addr, ih)).toEqual(['127.0.0.9:6881']);
  });
});

describe('per-source rate limit on the legacy protocol', () => {
  let a: AgentProcess;

  beforeAll(async () => {
    a = await startAgent([
      '--trusted-sources',
      '127.0.0.1',
      '--legacy-rate-limit',
      '10/s',
      '--legacy-rate-burst',
      '20',
    ]);
  }, 30_000);

  afterAll(async () => {
    await a?.stop();
  });

  it('engages past the burst, spares other sources, and releases as tokens refill', async () => {
    const hex = randomInfoHash();
    const answered = async (n: number, from: string) => {
      let ok = 0;
      // Sequential, so the bucket sees them in a burst but each reply is awaited.
      for (let i = 0; i < n; i++)
        if ((await legacyExchange(a.port, legacyLookup(hex), from)) === '[]\n') ok++;
      return ok;
    };
    const started = Date.now();
    const first = await answered(40, REMOTE);
    const elapsedS = (Date.now() - started) / 1000;
    // 20 from the burst, plus at most the refill (10/s) while the burst ran.
    expect(first).toBeGreaterThanOrEqual(20);
    expect(first).toBeLessThanOrEqual(20 + Math.ceil(10 * elapsedS) + 1);
    expect(first).toBeLessThan(40);
    // Another (trusted) source is unaffected while REMOTE is limited.
    expect(await answered(30, '127.0.0.1')).toBe(30);
    // Another untrusted source has its own bucket.
    expect(await answered(5, '127.0.0.6')).toBe(5);
    // After a pause the bucket refills (10/s): it releases.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await answered(10, REMOTE)).toBe(10);
    expect((await refusals(a.addr))['rate_limited.legacy']).toBeGreaterThanOrEqual(8);
  });
});
