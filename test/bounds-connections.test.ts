import { connect as http2Connect } from 'node:http2';
import { readFileSync } from 'node:fs';
import { connect } from '../control/client.js';
import { randomInfoHash, startAgent, type AgentProcess } from './helpers/agent-process.js';
import { outsiderOrSkip, type Outsider } from './helpers/outsider.js';

/**
 * Connection bounds of a default agent on 0.0.0.0 against another host (issue 12
 * item 5): the per-source cap shared by every protocol, the first-bytes deadline
 * and the HTTP/2 limits, while a legitimate client on loopback keeps working.
 */

const outsider: Outsider | undefined = outsiderOrSkip('bounds-connections');

/** A counter from GET /metrics, summed over the series matching `labels`. */
async function metric(port: number, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) && line.includes(labels)) sum += Number(line.split(' ').pop());
    else if (labels === '' && line.startsWith(`${name} `)) sum += Number(line.split(' ').pop());
  }
  return sum;
}

/**
 * Run inside the outsider: opens `n` connections to the agent in waves, the first
 * `partial` sending only part of the HTTP/2 preface, the rest nothing; holds them
 * for `holdMs` and reports what happened to them.
 */
const FLOOD_SCRIPT = `
const net = require('net');
const [host, port, n, partial, holdMs] = process.argv.slice(1).map((v, i) => (i === 0 ? v : Number(v)));
const r = { connected: 0, closed: 0, errors: 0, partialClosed: 0 };
let opened = 0;
const wave = setInterval(() => {
  for (let k = 0; k < 250 && opened < n; k++) {
    const partialOne = opened < partial;
    opened++;
    const s = net.connect({ host, port });
    s.on('connect', () => {
      r.connected++;
      if (partialOne) s.write('PRI * HTTP/2.0\\r\\n');
    });
    s.on('error', () => r.errors++);
    s.on('close', () => {
      r.closed++;
      if (partialOne) r.partialClosed++;
    });
  }
  if (opened >= n) clearInterval(wave);
}, 10);
setTimeout(() => {
  process.stdout.write(JSON.stringify(r));
  process.exit(0);
}, holdMs);
`;

(outsider ? describe : describe.skip)('connection bounds against another host', () => {
  let a: AgentProcess;
  const local = (): string => `127.0.0.1:${a.port}`;

  beforeAll(async () => {
    a = await startAgent([], { host: '0.0.0.0' });
  }, 30_000);

  afterAll(async () => {
    await a?.stop();
    outsider?.close();
  });

  it('tells HTTP/2 clients at most 100 concurrent streams', async () => {
    const session = http2Connect(`http://${local()}`);
    try {
      const settings = await new Promise<{ maxConcurrentStreams?: number }>((resolve, reject) => {
        session.once('remoteSettings', resolve);
        session.once('error', reject);
      });
      expect(settings.maxConcurrentStreams).toBe(100);
    } finally {
      session.close();
    }
  });

  it('5 000 idle connections from one host: capped at accept, cut at the deadline, loopback unaffected', async () => {
    const o = outsider!;
    const limits = readFileSync(`/proc/${a.child.pid}/limits`, 'utf8');
    const agentFds = Number(/Max open files\s+(\d+)/.exec(limits)?.[1] ?? 0);
    // The cap, not the fd limit, is what must hold the flood: 256 + loopback fit in any limit.
    expect(agentFds).toBeGreaterThanOrEqual(1024);
    const N = 5000;
    const PARTIAL = 10;
    const flood = o.run(
      'bash',
      [
        '-c',
        'ulimit -n 16384 && exec "$0" -e "$1" "$2" "$3" "$4" "$5" "$6"',
        process.execPath,
        FLOOD_SCRIPT,
        o.hostIp,
        String(a.port),
        String(N),
        String(PARTIAL),
        '8000',
      ],
      { timeoutMs: 30_000 },
    );
    // Wait until most of the flood has arrived, then use the agent from loopback.
    const deadline = Date.now() + 10_000;
    while (
      (await metric(a.port, 'btoverlay_connections_rejected_total', 'per_source_cap')) <
      N / 2
    ) {
      if (Date.now() > deadline) throw new Error('the flood did not arrive');
      await new Promise((r) => setTimeout(r, 100));
    }
    const c = connect(local(), { timeoutMs: 2000 });
    try {
      const ih = Buffer.from(randomInfoHash(), 'hex');
      const t0 = performance.now();
      await c.announce({ infoHash: ih, addr: '127.0.0.1:6881' });
      const providers = await c.lookup(ih);
      const took = performance.now() - t0;
      expect(providers.map((p) => p.addr)).toEqual(['127.0.0.1:6881']);
      expect(took).toBeLessThan(2000);
    } finally {
      c.close();
    }
    const r = JSON.parse((await flood).stdout) as {
      connected: number;
      closed: number;
      partialClosed: number;
    };
    // Every connection was accepted by the kernel; all but the cap's worth were closed at
    // accept, and the rest (idle or stuck inside the preface) at the 5 s first-bytes deadline.
    expect(r.connected).toBe(N);
    expect(r.partialClosed).toBe(PARTIAL);
    expect(r.closed).toBe(N);
    const capped = await metric(a.port, 'btoverlay_connections_rejected_total', 'per_source_cap');
    const timedOut = await metric(a.port, 'btoverlay_connections_rejected_total', 'sniff_timeout');
    expect(capped).toBe(N - 256);
    expect(timedOut).toBe(256);
  }, 60_000);
});
