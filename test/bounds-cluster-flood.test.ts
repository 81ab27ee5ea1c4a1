import { ExchangeRequest } from '../generated/btoverlay/v1/cluster.js';
import { GossipRequest } from '../generated/btoverlay/v1/overlay.js';
import { connect } from '../control/client.js';
import {
  eventually,
  randomInfoHash,
  startAgent,
  type AgentProcess,
} from './helpers/agent-process.js';
import { outsiderOrSkip, type Outsider } from './helpers/outsider.js';

/**
 * The per-source rate limit on Overlay.Gossip, Cluster.Exchange and cluster
 * datagrams (issue 12 item 5): a flood from another host is refused and counted,
 * while a member of the cluster keeps replicating through the same limit.
 */

const outsider: Outsider | undefined = outsiderOrSkip('bounds-cluster-flood');

/**
 * Run inside the outsider: `calls` raw gRPC calls per method over one HTTP/2
 * connection, 50 at a time, and `datagrams` UDP datagrams; prints the count of
 * each grpc-status per method.
 */
const FLOOD_SCRIPT = `
const http2 = require('http2');
const dgram = require('dgram');
const [host, port, calls, datagrams, exchangeHex, gossipHex] = process.argv.slice(1);
const frame = (hex) => {
  const body = Buffer.from(hex, 'hex');
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
};
const session = http2.connect('http://' + host + ':' + port);
session.on('error', () => undefined);
const out = {};
function call(path, body) {
  return new Promise((resolve) => {
    const s = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
    let code = 'none';
    const take = (h) => { if (h['grpc-status'] !== undefined) code = h['grpc-status']; };
    s.on('response', take);
    s.on('trailers', take);
    s.on('data', () => undefined);
    s.on('error', () => undefined);
    s.on('close', () => { out[path] = out[path] || {}; out[path][code] = (out[path][code] || 0) + 1; resolve(); });
    s.end(body);
  });
}
async function flood(path, body, n) {
  let next = 0;
  await Promise.all(Array.from({ length: 50 }, async () => { while (next++ < n) await call(path, body); }));
}
(async () => {
  const u = dgram.createSocket('udp4');
  const dg = Buffer.from(exchangeHex, 'hex');
  for (let i = 0; i < Number(datagrams); i++) u.send(dg, Number(port), host);
  const t0 = Date.now();
  await Promise.all([
    flood('/btoverlay.v1.Cluster/Exchange', frame(exchangeHex), Number(calls)),
    flood('/btoverlay.v1.Overlay/Gossip', frame(gossipHex), Number(calls)),
  ]);
  out.ms = Date.now() - t0;
  session.close();
  u.close();
  process.stdout.write(JSON.stringify(out));
})();
`;

/** The state `agent` holds for member `nodeId` ('unknown' when it has none). */
async function stateAt(agent: AgentProcess, nodeId: string): Promise<string> {
  const c = connect(`127.0.0.1:${agent.port}`);
  try {
    return (await c.members()).find((m) => m.nodeId === nodeId)?.state ?? 'unknown';
  } finally {
    c.close();
  }
}

const RATE = 100;
const BURST = 200;

(outsider ? describe : describe.skip)('Gossip/Exchange rate limit against another host', () => {
  let a: AgentProcess;
  let b: AgentProcess;

  beforeAll(async () => {
    // Loopback is not a trusted source here, so member B goes through the same limit.
    a = await startAgent(
      [
        '--node-id',
        'a',
        '--trusted-sources',
        '127.0.0.2/32',
        '--cluster-rate-limit',
        `${RATE}/s`,
        '--cluster-rate-burst',
        String(BURST),
      ],
      { host: '0.0.0.0' },
    );
    b = await startAgent(['--node-id', 'b', '--bootstrap', `127.0.0.1:${a.port}`]);
    expect(await eventually(async () => (await stateAt(a, 'b')) === 'alive', 10_000)).toBe(true);
  }, 40_000);

  afterAll(async () => {
    await Promise.all([a, b].map((x) => x?.stop()));
    outsider?.close();
  });

  it('refuses and counts a flood from one host while a member keeps replicating', async () => {
    const o = outsider!;
    const CALLS = 3000;
    const exchange = Buffer.from(
      ExchangeRequest.encode({ messages: [], sealed: Buffer.alloc(0), auth: undefined }).finish(),
    ).toString('hex');
    const gossip = Buffer.from(GossipRequest.encode({ sender: 'x', sets: [] }).finish()).toString(
      'hex',
    );
    const flood = o.run(
      process.execPath,
      ['-e', FLOOD_SCRIPT, o.hostIp, String(a.port), String(CALLS), '2000', exchange, gossip],
      { timeoutMs: 60_000 },
    );
    // Meanwhile B's announce reaches A through B's (rate-limited, not exempt) gossip.
    const ih = randomInfoHash();
    const cb = connect(b.addr);
    await cb.announce({ infoHash: Buffer.from(ih, 'hex'), addr: '127.0.0.1:7001' });
    cb.close();
    const ca = connect(`127.0.0.1:${a.port}`);
    try {
      expect(
        await eventually(
          async () =>
            (await ca.lookup(Buffer.from(ih, 'hex'))).some((p) => p.addr === '127.0.0.1:7001'),
          5000,
        ),
      ).toBe(true);
      const res = JSON.parse((await flood).stdout) as Record<string, Record<string, number>> & {
        ms: number;
      };
      const RE = '8'; // RESOURCE_EXHAUSTED
      const ex = res['/btoverlay.v1.Cluster/Exchange']!;
      const go = res['/btoverlay.v1.Overlay/Gossip']!;
      const passed = CALLS * 2 - (ex[RE] ?? 0) - (go[RE] ?? 0);
      // One bucket per source for both methods: at most the burst plus the rate over the run.
      expect(passed).toBeLessThanOrEqual(BURST + (RATE * res.ms) / 1000 + 50);
      expect(ex[RE]).toBeGreaterThan(CALLS / 2);
      expect(go[RE]).toBeGreaterThan(CALLS / 2);
      const refusals = (await ca.status()).securityRefusals;
      expect(refusals['rate_limited.exchange']).toBe(ex[RE]);
      expect(refusals['rate_limited.gossip']).toBe(go[RE]);
      // The 2 000 datagrams were sent at once, from the same bucket: all but its burst are
      // dropped and counted (the socket buffers may lose some before the agent sees them).
      expect(refusals['rate_limited.datagram']).toBeGreaterThan(500);
    } finally {
      ca.close();
    }
    // B was never cut off: it is alive at A, and A at B.
    expect(await stateAt(a, 'b')).toBe('alive');
    expect(await stateAt(b, 'a')).toBe('alive');
  }, 90_000);
});
