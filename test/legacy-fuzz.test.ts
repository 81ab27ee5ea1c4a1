/**
 * Fuzzes the legacy JSON protocol of a real agent: random and mutated messages
 * (valid ones with fields broken, truncated, oversized, binary garbage, deep
 * nesting, too many providers, slow writers), many connections at once. Then the
 * agent must still be up and answer legacy and gRPC lookups correctly, with its
 * RSS under a bound.
 *
 * LEGACY_FUZZ_CASES sets the number of messages (default 100 000);
 * LEGACY_FUZZ_SEED the PRNG seed (printed, to replay a failure).
 */
import { readFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { connect } from '../control/client.js';
import { randomInfoHash, startAgent, type AgentProcess } from './helpers/agent-process.js';

const CASES = Number(process.env.LEGACY_FUZZ_CASES ?? 100_000);
const SEED = Number(process.env.LEGACY_FUZZ_SEED ?? Date.now() % 2 ** 31);
/** Connections open at once. */
const CONCURRENCY = 96;
/** The bound on the agent's resident memory while fuzzed, bytes. */
const RSS_BOUND = 256 * 1024 * 1024;
/** Source addresses to spread the client's ephemeral ports over (all loopback). */
const LOCAL_ADDRESSES = Array.from({ length: 16 }, (_, i) => `127.0.0.${10 + i}`);

/** mulberry32: a small seeded PRNG, so a failing run can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What the agent may do with a case: must answer, must not, or either. */
type Expect = 'reply' | 'none' | 'any';
interface Case {
  kind: string;
  parts: Buffer[];
  gapMs: number;
  expect: Expect;
}

const pct = (hex: string): string => hex.replace(/../g, (b) => '%' + b.toUpperCase());

function generator(rand: () => number): () => Case {
  const int = (n: number): number => Math.floor(rand() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  const pool = Array.from({ length: 4096 }, () => randomInfoHash());
  const poolPct = pool.map(pct);
  const peerIds = ['', '-GO0001-abcdefghijkl', '-TR3000-' + 'x'.repeat(12), 'é€'] as const;
  // The clock is read once per case, not per provider (the driver's CPU is the fuzz's bottleneck).
  let nowS = Math.floor(Date.now() / 1000);
  const lastSeen = (): number => {
    const k = int(3);
    return k === 0 ? 0 : k === 1 ? nowS : nowS - int(60);
  };
  const provider = (): Record<string, unknown> => ({
    addr: `10.${int(256)}.${int(256)}.${1 + int(254)}:${1 + int(65535)}`,
    peer_id: pick(peerIds),
    left: int(1e9),
    last_seen: lastSeen(),
  });
  /** Random bytes, four per PRNG draw. */
  const bytes = (n: number): Buffer => {
    const out = Buffer.allocUnsafe(n + 3);
    for (let i = 0; i < n; i += 4) out.writeUInt32LE(Math.floor(rand() * 2 ** 32), i);
    return out.subarray(0, n);
  };
  // Over-long provider lists are refused by count before anything is stored, so they
  // are assembled from a pool of encoded providers instead of fresh ones each time.
  const providerPool = Array.from({ length: 1024 }, () => JSON.stringify(provider()));
  const valid = (): Record<string, unknown> => {
    const type = pick(['lookup', 'announce', 'gossip', 'LOOKUP', 'Announce']);
    const i = int(pool.length);
    const msg: Record<string, unknown> = {
      type,
      info_hash: rand() < 0.8 ? poolPct[i] : pool[i],
    };
    if (type.toLowerCase() === 'lookup') msg.limit = pick([0, 1, 50]);
    else msg.providers = Array.from({ length: 1 + int(5) }, provider);
    return msg;
  };
  const badValues = [
    -1,
    1.5,
    1e300,
    '12',
    null,
    true,
    [],
    {},
    '',
    'x'.repeat(300),
    '%ZZ',
    9.3e18,
    -9.3e18,
  ];
  const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v) + '\n');
  const mutate = (b: Buffer): Buffer => {
    const out = [...b];
    for (let n = 1 + int(4); n > 0; n--) {
      const i = int(out.length);
      const op = int(3);
      if (op === 0) out[i] = int(256);
      else if (op === 1) out.splice(i, 1);
      else out.splice(i, 0, int(256));
    }
    return Buffer.from(out);
  };
  const kinds: [number, () => Case][] = [
    [
      30,
      () => {
        const m = valid();
        return {
          kind: 'valid',
          parts: [json(m)],
          gapMs: 0,
          expect: String(m.type).toLowerCase() === 'lookup' ? 'reply' : 'none',
        };
      },
    ],
    [
      20,
      () => {
        // A valid message with one field broken.
        const m = valid();
        const providers = m.providers as Record<string, unknown>[] | undefined;
        if (providers !== undefined && rand() < 0.6) {
          const p = pick(providers);
          p[pick(['addr', 'peer_id', 'left', 'last_seen'])] = pick(badValues);
        } else m[pick(['type', 'info_hash', 'providers', 'limit'])] = pick(badValues);
        return { kind: 'broken_field', parts: [json(m)], gapMs: 0, expect: 'any' };
      },
    ],
    [
      15,
      () => {
        const full = json(valid());
        return {
          kind: 'truncated',
          parts: [full.subarray(0, 1 + int(full.length - 3))],
          gapMs: 0,
          expect: 'none',
        };
      },
    ],
    [15, () => ({ kind: 'mutated', parts: [mutate(json(valid()))], gapMs: 0, expect: 'any' })],
    [
      8,
      () => {
        const garbage = bytes(1 + int(512));
        if (rand() < 0.7) garbage[0] = 0x7b; // reach the legacy handler, not the sniffer's reject
        return { kind: 'garbage', parts: [garbage], gapMs: 0, expect: 'any' };
      },
    ],
    [
      4,
      () => {
        const depth = 1 + int(20_000);
        const text = `{"type":"lookup","x":${'['.repeat(depth)}${']'.repeat(depth)}}`;
        return { kind: 'deep', parts: [Buffer.from(text)], gapMs: 0, expect: 'none' };
      },
    ],
    [
      2,
      () => {
        const n = 501 + int(100);
        const list = Array.from({ length: n }, () => pick(providerPool)).join(',');
        const text = `{"type":"gossip","info_hash":"${pick(poolPct)}","providers":[${list}]}\n`;
        return { kind: 'too_many_providers', parts: [Buffer.from(text)], gapMs: 0, expect: 'none' };
      },
    ],
    [
      1,
      () => ({
        kind: 'oversized',
        parts: [Buffer.from(`{"type":"lookup","pad":"${'a'.repeat(65 * 1024 + int(4096))}"}\n`)],
        gapMs: 0,
        expect: 'none',
      }),
    ],
    [
      0.5,
      () => {
        // Holds the connection open after a partial message: closed by the read timeout.
        const full = json(valid());
        return {
          kind: 'silent',
          parts: [full.subarray(0, int(full.length - 2))],
          gapMs: 0,
          expect: 'none',
        };
      },
    ],
    [
      0.3,
      () => {
        // A slow writer: the message in pieces; too slow ones hit the read timeout.
        const full = json(valid());
        const cut = 1 + int(full.length - 2);
        return {
          kind: 'slow',
          parts: [full.subarray(0, cut), full.subarray(cut)],
          gapMs: 100 + int(1500),
          expect: 'any',
        };
      },
    ],
  ];
  const total = kinds.reduce((s, [w]) => s + w, 0);
  return () => {
    nowS = Math.floor(Date.now() / 1000);
    let r = rand() * total;
    for (const [w, make] of kinds) {
      if ((r -= w) < 0) return make();
    }
    return kinds[0][1]();
  };
}

/** Sends one case on its own connection; resolves with what the agent sent back. */
function send(port: number, c: Case, localAddress: string): Promise<Buffer> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: '127.0.0.1', port, localAddress });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), 10_000);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    socket.once('connect', () => {
      socket.write(c.parts[0]);
      if (c.parts.length === 1) {
        // Half-close after writing (the agent still answers; a truncated or garbage
        // message is then refused at once); silent writers hold the connection.
        if (c.kind !== 'silent') socket.end();
        return;
      }
      setTimeout(() => {
        if (!socket.destroyed) socket.write(c.parts[1]);
      }, c.gapMs);
    });
  });
}

/** User + system CPU seconds of a process so far. */
function cpuSecondsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ)
}

function rssOf(pid: number): number {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return 0; // the agent has exited; the assertions after the run report it
  }
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m === null ? 0 : Number(m[1]) * 1024;
}

describe('legacy protocol fuzz', () => {
  let a: AgentProcess;
  beforeAll(async () => {
    a = await startAgent(['--legacy-read-timeout', '1s', '--node-id', 'fuzzed']);
  });
  afterAll(async () => {
    await a.stop();
  });

  it(`survives ${CASES} random and mutated messages (seed ${SEED})`, async () => {
    const canary = randomInfoHash();
    const canaryLine = Buffer.from(
      `{"type":"announce","info_hash":"${pct(canary)}","providers":[{"addr":"10.9.9.9:6881","peer_id":"-GO0001-canarycanar","left":0,"last_seen":0}]}\n`,
    );
    const next = generator(prng(SEED));
    const byKind = new Map<string, { n: number; replies: number }>();
    const violations: string[] = [];
    let peakRss = rssOf(a.child.pid!);
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, rssOf(a.child.pid!));
    }, 100);
    let issued = 0;
    const started = Date.now();
    const worker = async (w: number): Promise<void> => {
      while (issued < CASES) {
        issued++;
        const c = next();
        const reply = await send(a.port, c, LOCAL_ADDRESSES[w % LOCAL_ADDRESSES.length]);
        const stats = byKind.get(c.kind) ?? { n: 0, replies: 0 };
        stats.n++;
        if (reply.length > 0) stats.replies++;
        byKind.set(c.kind, stats);
        const text = reply.toString('utf8');
        if (c.expect === 'reply' && !/^\[.*\]\n$/s.test(text)) {
          violations.push(`${c.kind}: no valid reply (${JSON.stringify(text.slice(0, 80))})`);
        } else if (c.expect === 'none' && reply.length > 0) {
          violations.push(`${c.kind}: unexpected reply ${JSON.stringify(text.slice(0, 80))}`);
        } else if (reply.length > 0 && !Array.isArray(JSON.parse(text))) {
          violations.push(`${c.kind}: reply is not an array`);
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: CONCURRENCY }, (_, w) => worker(w)));
    } finally {
      clearInterval(sampler); // never left running into other suites, even on a timeout
    }
    peakRss = Math.max(peakRss, rssOf(a.child.pid!));
    const seconds = (Date.now() - started) / 1000;
    const agentCpu = cpuSecondsOf(a.child.pid!);
    const ownCpu = (process.cpuUsage().user + process.cpuUsage().system) / 1e6;

    // Still up: the canary announced now is found by legacy and gRPC lookups.
    expect(
      await send(
        a.port,
        { kind: 'truncated', parts: [canaryLine], gapMs: 0, expect: 'none' },
        '127.0.0.1',
      ),
    ).toHaveLength(0);
    const lookup = await send(
      a.port,
      {
        kind: 'valid',
        parts: [Buffer.from(`{"type":"lookup","info_hash":"${pct(canary)}"}\n`)],
        gapMs: 0,
        expect: 'reply',
      },
      '127.0.0.1',
    );
    expect(lookup.toString()).toMatch(
      /^\[\{"addr":"10\.9\.9\.9:6881","peer_id":"-GO0001-canarycanar","left":0,"last_seen":\d+\}\]\n$/,
    );
    const client = connect(a.addr);
    try {
      expect(await client.health()).toBe('SERVING');
      const viaGrpc = await client.lookup(Buffer.from(canary, 'hex'));
      expect(viaGrpc.map((p) => p.addr)).toEqual(['10.9.9.9:6881']);
    } finally {
      client.close();
    }
    expect(a.child.exitCode).toBeNull();

    await a.stop();
    const counters = a.logs.find((l) => l.msg === 'legacy counters')?.legacy;
    process.stdout.write(
      `legacy fuzz: ${CASES} cases in ${seconds.toFixed(1)} s (${Math.round(CASES / seconds)}/s), seed ${SEED}, ` +
        `peak RSS ${(peakRss / 1048576).toFixed(1)} MiB, CPU s agent ${agentCpu.toFixed(1)} / driver ${ownCpu.toFixed(1)}\n` +
        `cases by kind: ${JSON.stringify(Object.fromEntries(byKind))}\n` +
        `agent counters: ${JSON.stringify(counters)}\n`,
    );
    expect(violations.slice(0, 10)).toEqual([]);
    expect(peakRss).toBeLessThan(RSS_BOUND);
    // Every case was seen by the agent's port and most bad ones were refused with a reason.
    const rejected = (counters as { rejected: Record<string, number> }).rejected;
    expect(Object.values(rejected).reduce((s, n) => s + n, 0)).toBeGreaterThan(CASES * 0.2);
  }, 400_000); // ~2 min on an idle 2-core machine; generous for a loaded CI host
});
