/**
 * `npm run bench:legacy` — legacy JSON lookups/s, 32 concurrent clients, one TCP
 * connection per request (as Go clients do), against a real agent process holding
 * 10 000 info hashes × 20 providers, and in the same run against a minimal Node
 * `net` server process that answers every connection with a fixed line of the same
 * size. Rounds alternate between the two; the ratio agent/bare is printed last
 * (goal ≥ 0.8).
 *
 * Flags: --seconds N per round (default 4), --rounds N (default 3), --concurrency N (32).
 */
import type { ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { PACKAGE_ROOT } from '../../agent/paths.js';
import { startListening, stopChild, tempDir } from '../process.js';

const args = process.argv.slice(2);
const opt = (name: string, def: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const SECONDS = opt('--seconds', 4);
const ROUNDS = opt('--rounds', 3);
const CONCURRENCY = opt('--concurrency', 32);
const HASHES = 10_000;
const PER_HASH = 20;
/** Client source addresses (all loopback), to spread ephemeral ports. */
const LOCAL_ADDRESSES = Array.from({ length: 8 }, (_, i) => `127.0.0.${100 + i}`);

/** The %XX form of info hash number h. */
const pctInfoHash = (h: number): string =>
  (h + 1)
    .toString(16)
    .padStart(40, '0')
    .replace(/../g, (b) => '%' + b.toUpperCase());

/** Fixed-width providers, so that every lookup reply has the same size. */
const providerJson = (h: number, p: number, lastSeen: number): string =>
  `{"addr":"h${h.toString(16).padStart(6, '0')}-p${String(p).padStart(2, '0')}.example:6881",` +
  `"peer_id":"-BT0001-${String(h * PER_HASH + p).padStart(12, '0')}",` +
  `"left":${1_000_000 + p},"last_seen":${lastSeen}}`;

/** Child mode: a bare `net` server answering each connection's first bytes with a fixed line. */
async function serveBare(): Promise<void> {
  const line = Buffer.from(process.env.BENCH_BARE_LINE ?? '[]\n');
  const server = createServer((socket) => {
    socket.on('error', () => socket.destroy());
    socket.once('data', () => socket.end(line));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  console.log(JSON.stringify({ msg: 'listening', addr: `127.0.0.1:${port}` }));
}

/** One legacy request on its own connection; resolves with the whole reply once the server closed. */
function request(port: number, line: string, localAddress: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress, noDelay: true });
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.once('error', reject);
    socket.once('close', () => resolve(Buffer.concat(chunks)));
    // As a Go client: write the line and read until the server closes. Half-closing
    // first would leave every client port in TIME_WAIT for a minute, and past a minute
    // of thousands of connections a second the driver runs out of ports and stalls.
    socket.write(line);
  });
}

async function fillAgent(port: number, lastSeen: number): Promise<void> {
  let next = 0;
  const worker = async (w: number): Promise<void> => {
    while (next < HASHES) {
      const h = next++;
      const providers = Array.from({ length: PER_HASH }, (_, p) => providerJson(h, p, lastSeen));
      const msg = `{"type":"gossip","info_hash":"${pctInfoHash(h)}","providers":[${providers.join(',')}]}\n`;
      await request(port, msg, LOCAL_ADDRESSES[w % LOCAL_ADDRESSES.length]);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, w) => worker(w)));
}

/** Runs CONCURRENCY loops of lookups for SECONDS; returns requests/s. */
async function drive(port: number, replyBytes: number): Promise<number> {
  let done = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const loop = async (w: number): Promise<void> => {
    let i = w;
    const local = LOCAL_ADDRESSES[w % LOCAL_ADDRESSES.length];
    while (performance.now() < deadline) {
      const line = `{"type":"lookup","info_hash":"${pctInfoHash(i % HASHES)}","limit":50}\n`;
      const reply = await request(port, line, local);
      if (reply.length !== replyBytes || reply[reply.length - 1] !== 0x0a) {
        throw new Error(`reply of ${reply.length} bytes, expected ${replyBytes}`);
      }
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
    'info', // the "listening" line is how the address is learnt
    '--ttl',
    '1h',
  ]);
  let bare: { child: ChildProcess; port: number } | undefined;
  try {
    const lastSeen = Math.floor(Date.now() / 1000);
    await fillAgent(agent.port, lastSeen);
    const sample = await request(
      agent.port,
      `{"type":"lookup","info_hash":"${pctInfoHash(0)}","limit":50}\n`,
      LOCAL_ADDRESSES[0],
    );
    if ((JSON.parse(sample.toString()) as unknown[]).length !== PER_HASH) {
      throw new Error(`agent answered ${sample.toString().slice(0, 200)}`);
    }
    bare = await startListening([fileURLToPath(import.meta.url), '--serve-bare'], {
      BENCH_BARE_LINE: sample.toString(),
    });
    console.log(
      `agent holds ${HASHES} info hashes x ${PER_HASH} providers (reply ${sample.length} bytes); ` +
        `${CONCURRENCY} concurrent clients, one connection per lookup, ${SECONDS}s rounds`,
    );
    await drive(agent.port, sample.length); // warm-up both
    await drive(bare.port, sample.length);
    const a: number[] = [];
    const b: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      a.push(await drive(agent.port, sample.length));
      b.push(await drive(bare.port, sample.length));
      console.log(
        `round ${r + 1}: agent ${Math.round(a[r])} lookups/s, bare net ${Math.round(b[r])} lookups/s`,
      );
    }
    const ratio = median(a) / median(b);
    console.log(
      `median: agent ${Math.round(median(a))} lookups/s, bare net ${Math.round(median(b))} lookups/s`,
    );
    console.log(`${ratio >= 0.8 ? 'PASS' : 'FAIL'} goal ratio >= 0.8`);
    console.log(`ratio agent/bare: ${ratio.toFixed(3)}`);
  } finally {
    await Promise.all([stopChild(agent.child), bare === undefined ? null : stopChild(bare.child)]);
  }
}

if (args.includes('--serve-bare')) await serveBare();
else {
  await main();
  process.exit(0);
}
