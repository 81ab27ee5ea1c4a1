/**
 * `npm run bench:lookup` — gRPC Lookup requests/s, 64 concurrent calls on one
 * channel, against a real agent process holding 10 000 info hashes × 20 providers,
 * and in the same run against a bare grpc-js server process that returns a fixed
 * reply of the same size. Rounds alternate between the two; the ratio agent/bare
 * is printed last (goal ≥ 0.9: the Store's cost must be invisible).
 *
 * Flags: --seconds N per round (default 4), --rounds N (default 3), --concurrency N (64).
 */
import { fileURLToPath } from 'node:url';
import { credentials, Server, ServerCredentials, Metadata } from '@grpc/grpc-js';
import {
  LookupResponse,
  OverlayClient,
  OverlayService,
  type GossipResponse,
  type OverlayServer,
} from '../../generated/btoverlay/v1/overlay.js';
import type { Provider, ProviderSet } from '../../generated/btoverlay/v1/provider.js';
import { PACKAGE_ROOT } from '../../agent/paths.js';
import { numberOption } from './args.js';
import { startListening, stopChild, tempDir } from '../process.js';

const args = process.argv.slice(2);
const SECONDS = numberOption('--seconds', 4);
const ROUNDS = numberOption('--rounds', 3);
const CONCURRENCY = numberOption('--concurrency', 64);
const HASHES = 10_000;
const PER_HASH = 20;

const infoHash = (h: number): Buffer => {
  const b = Buffer.alloc(20);
  b.writeUInt32BE(h + 1, 16);
  return b;
};
const provider = (h: number, p: number, now: number): Provider => ({
  addr: `10.${(h >> 8) & 255}.${h & 255}.${p}:6881`,
  peerId: Buffer.from(`-BT0001-${String(h * PER_HASH + p).padStart(12, '0')}`),
  left: BigInt(p * 1000),
  lastSeen: BigInt(now - p),
  origin: 'bench-origin',
  originKey: Buffer.alloc(0),
  signature: Buffer.alloc(0),
  removed: false,
});

/** Child mode: a bare grpc-js server answering every Lookup with one fixed reply. */
async function serveBare(): Promise<void> {
  const now = Date.now();
  const fixed = { providers: Array.from({ length: PER_HASH }, (_, p) => provider(1, p, now)) };
  const impl: OverlayServer = {
    announce: (_c, cb) => cb(null, { provider: undefined }),
    lookup: (_c, cb) => cb(null, fixed),
    gossip: (_c, cb) => cb(null, { applied: 0, unchanged: 0, refused: 0 }),
  };
  const server = new Server();
  server.addService(OverlayService, impl);
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) =>
      e ? rej(e) : res(p),
    ),
  );
  console.log(JSON.stringify({ msg: 'listening', addr: `127.0.0.1:${port}` }));
}

function call<T>(fn: (cb: (e: Error | null, r?: T) => void) => void): Promise<T> {
  return new Promise((res, rej) => fn((e, r) => (e ? rej(e) : res(r as T))));
}

async function fillAgent(client: OverlayClient): Promise<void> {
  const now = Date.now();
  const perCall = Math.floor(5000 / PER_HASH);
  for (let h = 0; h < HASHES; h += perCall) {
    const sets: ProviderSet[] = [];
    for (let i = h; i < Math.min(HASHES, h + perCall); i++) {
      sets.push({
        infoHash: infoHash(i),
        providers: Array.from({ length: PER_HASH }, (_, p) => provider(i, p, now)),
      });
    }
    const r = await call<GossipResponse>((cb) => client.gossip({ sender: 'bench', sets }, cb));
    if (r.refused > 0) throw new Error(`agent refused ${r.refused} records`);
  }
}

/** Runs CONCURRENCY loops of Lookup for SECONDS; returns requests/s. */
async function drive(client: OverlayClient, expectProviders: number): Promise<number> {
  let done = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const loop = async (w: number): Promise<void> => {
    let i = w;
    while (performance.now() < deadline) {
      const r = await call<LookupResponse>((cb) =>
        client.lookup({ infoHash: infoHash(i % HASHES), limit: 50 }, new Metadata(), cb),
      );
      if (r.providers.length !== expectProviders)
        throw new Error(`got ${r.providers.length} providers`);
      i += CONCURRENCY;
      done++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, w) => loop(w)));
  return done / ((performance.now() - t0) / 1000);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const agent = await startListening([
    `${PACKAGE_ROOT}/dist/agent/main.js`,
    'run',
    '--listen',
    '127.0.0.1:0',
    // Its own identity and cluster key, not the user's default data dir.
    '--data-dir',
    tempDir('bench-agent-'),
    '--log-level',
    'info',
    // Records must outlive the whole run (fill + rounds), however slow the machine is.
    '--ttl',
    '1h',
  ]);
  const bare = await startListening([fileURLToPath(import.meta.url), '--serve-bare']);
  const agentClient = new OverlayClient(agent.addr, credentials.createInsecure());
  const bareClient = new OverlayClient(bare.addr, credentials.createInsecure());
  try {
    await fillAgent(agentClient);
    console.log(
      `agent ${agent.addr} holds ${HASHES} info hashes x ${PER_HASH} providers; ${CONCURRENCY} concurrent calls, one channel, ${SECONDS}s rounds`,
    );
    await drive(agentClient, PER_HASH); // warm-up both
    await drive(bareClient, PER_HASH);
    const a: number[] = [];
    const b: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      a.push(await drive(agentClient, PER_HASH));
      b.push(await drive(bareClient, PER_HASH));
      console.log(
        `round ${r + 1}: agent ${Math.round(a[r])} req/s, bare grpc-js ${Math.round(b[r])} req/s`,
      );
    }
    const ratio = median(a) / median(b);
    console.log(
      `median: agent ${Math.round(median(a))} req/s, bare grpc-js ${Math.round(median(b))} req/s`,
    );
    console.log(`${ratio >= 0.9 ? 'PASS' : 'FAIL'} goal ratio >= 0.9`);
    console.log(`ratio agent/bare: ${ratio.toFixed(3)}`);
  } finally {
    agentClient.close();
    bareClient.close();
    await Promise.all([stopChild(agent.child), stopChild(bare.child)]);
  }
}

if (args.includes('--serve-bare')) await serveBare();
else {
  await main();
  process.exit(0);
}
