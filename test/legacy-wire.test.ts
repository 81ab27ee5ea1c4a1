/**
 * The legacy JSON-over-TCP protocol against real agents, with raw sockets written
 * from the contract: byte-exact exchanges, bad input, bounds, modes, a 2-agent
 * cluster used by legacy clients, and outbound gossip to a fake legacy node.
 */
import { spawn } from 'node:child_process';
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { connect, type AgentClient } from '../control/client.js';
import {
  eventually,
  randomInfoHash,
  startAgent,
  type AgentProcess,
} from './helpers/agent-process.js';
import { requireTools } from './helpers/tools.js';

requireTools('/usr/bin/python3');

/** What the server did with one request. */
interface Exchange {
  /** Every byte the server sent. */
  reply: Buffer;
  /** The server closed the connection (FIN or RST) before our deadline. */
  closed: boolean;
}

/**
 * A legacy client per the contract: connect, write `data` (in `parts`, with
 * `gapMs` between them), read until the server closes or `timeoutMs` passes.
 */
function exchange(
  port: number,
  data: string | Buffer | (string | Buffer)[],
  opts: { host?: string; localAddress?: string; timeoutMs?: number; gapMs?: number } = {},
): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const parts = Array.isArray(data) ? data : [data];
    const socket: Socket = tcpConnect({
      host: opts.host ?? '127.0.0.1',
      port,
      localAddress: opts.localAddress,
    });
    const chunks: Buffer[] = [];
    let settled = false;
    const done = (closed: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ reply: Buffer.concat(chunks), closed });
    };
    const timer = setTimeout(() => done(false), opts.timeoutMs ?? 3000);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', () => done(true));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // A reset after we wrote counts as the server closing on us.
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') done(true);
      else if (!settled) {
        settled = true;
        clearTimeout(timer);
        reject(err);
      }
    });
    socket.once('connect', () => {
      void (async () => {
        for (let i = 0; i < parts.length; i++) {
          if (i > 0 && opts.gapMs) await new Promise((r) => setTimeout(r, opts.gapMs));
          if (socket.destroyed) return;
          socket.write(parts[i]);
        }
      })();
    });
  });
}

/** A port free right now on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** The uppercase %XX form of a hex info hash. */
const pct = (hex: string): string => hex.replace(/../g, (b) => '%' + b.toUpperCase());
const nowS = (): number => Math.floor(Date.now() / 1000);
const lookupLine = (hex: string, limit = 50): string =>
  `{"type":"lookup","info_hash":"${pct(hex)}","limit":${limit}}\n`;

describe('legacy protocol on the agent port', () => {
  let a: AgentProcess;
  let grpcA: AgentClient;
  beforeAll(async () => {
    a = await startAgent(['--node-id', 'wire-a', '--legacy-read-timeout', '400ms']);
    grpcA = connect(a.addr);
  });
  afterAll(async () => {
    grpcA.close();
    await a.stop();
  });

  it('answers the contract example byte for byte (announce: no reply; lookup: array + newline)', async () => {
    const ih = randomInfoHash();
    const t = nowS() - 1;
    const meta = `{"addr":"10.0.0.7:6881","peer_id":"-GO0001-abcdefghijkl","left":0,"last_seen":${t}}`;
    const ann = await exchange(
      a.port,
      `{"type":"announce","info_hash":"${pct(ih)}","providers":[${meta}]}\n`,
    );
    expect(ann).toEqual({ reply: Buffer.alloc(0), closed: true });
    const look = await exchange(a.port, lookupLine(ih));
    expect(look.closed).toBe(true);
    expect(look.reply.toString('latin1')).toBe(`[${meta}]\n`);
  });

  it('answers [] for an unknown info hash, and 40-hex keys and no-newline requests too', async () => {
    const ih = randomInfoHash();
    expect((await exchange(a.port, lookupLine(ih))).reply.toString()).toBe('[]\n');
    const t = nowS();
    await exchange(
      a.port,
      `{"type":"gossip","info_hash":"${ih.toUpperCase()}","providers":[{"addr":"10.0.0.9:1","peer_id":"","left":5,"last_seen":${t}}]}`,
    );
    // No newline, trailing bytes after the value, keys and type in other cases.
    const look = await exchange(
      a.port,
      ` {"TYPE":"LOOKUP","Info_Hash":"${pct(ih).toLowerCase()}"}{"garbage`,
    );
    expect(look.reply.toString()).toBe(
      `[{"addr":"10.0.0.9:1","peer_id":"","left":5,"last_seen":${t}}]\n`,
    );
  });

  it('stamps an announce with last_seen 0 with now, refuses a gossip with 0, marks the origin', async () => {
    const ih = randomInfoHash();
    const before = nowS();
    await exchange(
      a.port,
      `{"type":"announce","info_hash":"${pct(ih)}","providers":[{"addr":"10.0.0.1:6881","peer_id":"-GO0001-abcdefghijkl","left":3,"last_seen":0}]}\n`,
      { localAddress: '127.0.0.2' },
    );
    await exchange(
      a.port,
      `{"type":"gossip","info_hash":"${pct(ih)}","providers":[{"addr":"10.0.0.2:6881","peer_id":"x","left":0,"last_seen":0}]}\n`,
    );
    const reply = JSON.parse((await exchange(a.port, lookupLine(ih))).reply.toString()) as {
      addr: string;
      last_seen: number;
    }[];
    expect(reply.map((p) => p.addr)).toEqual(['10.0.0.1:6881']);
    expect(reply[0].last_seen).toBeGreaterThanOrEqual(before);
    expect(reply[0].last_seen).toBeLessThanOrEqual(nowS());
    // Through gRPC the same record, with its legacy origin.
    const viaGrpc = await grpcA.lookup(Buffer.from(ih, 'hex'));
    expect(viaGrpc).toHaveLength(1);
    expect(viaGrpc[0]).toMatchObject({
      addr: '10.0.0.1:6881',
      origin: 'legacy:127.0.0.2',
      left: 3n,
    });
  });

  it('never lists a withdrawn provider (tombstone) in a legacy lookup reply', async () => {
    const ih = Buffer.from(randomInfoHash(), 'hex');
    await grpcA.announce({ infoHash: ih, addr: '10.0.0.1:1' });
    await grpcA.announce({ infoHash: ih, addr: '10.0.0.2:1' });
    await grpcA.announce({ infoHash: ih, addr: '10.0.0.1:1', removed: true });
    const reply = JSON.parse(
      (await exchange(a.port, lookupLine(ih.toString('hex')))).reply.toString(),
    ) as { addr: string }[];
    expect(reply.map((p) => p.addr)).toEqual(['10.0.0.2:1']);
  });

  it('merges per addr keeping the greater last_seen, newest first, cut to limit', async () => {
    const ih = randomInfoHash();
    const t = nowS();
    const g = (addr: string, s: number): string =>
      `{"type":"gossip","info_hash":"${pct(ih)}","providers":[{"addr":"${addr}","peer_id":"","left":0,"last_seen":${s}}]}\n`;
    await exchange(a.port, g('10.0.0.1:1', t - 10));
    await exchange(a.port, g('10.0.0.2:1', t - 5));
    await exchange(a.port, g('10.0.0.1:1', t - 20)); // older: ignored
    await exchange(a.port, g('10.0.0.3:1', t - 1));
    const all = JSON.parse((await exchange(a.port, lookupLine(ih, 0))).reply.toString()) as {
      addr: string;
      last_seen: number;
    }[];
    expect(all.map((p) => [p.addr, p.last_seen])).toEqual([
      ['10.0.0.3:1', t - 1],
      ['10.0.0.2:1', t - 5],
      ['10.0.0.1:1', t - 10],
    ]);
    const two = JSON.parse((await exchange(a.port, lookupLine(ih, 2))).reply.toString()) as {
      addr: string;
    }[];
    expect(two.map((p) => p.addr)).toEqual(['10.0.0.3:1', '10.0.0.2:1']);
  });

  it('clamps a far-future last_seen to now instead of keeping it forever', async () => {
    const ih = randomInfoHash();
    await exchange(
      a.port,
      `{"type":"gossip","info_hash":"${pct(ih)}","providers":[{"addr":"10.0.0.1:1","peer_id":"","left":0,"last_seen":9000000000000}]}\n`,
    );
    const [p] = JSON.parse((await exchange(a.port, lookupLine(ih))).reply.toString()) as {
      last_seen: number;
    }[];
    expect(Math.abs(p.last_seen - nowS())).toBeLessThanOrEqual(2);
  });

  it.each([
    ['an unfinished object', '{"type":"lookup",\n'],
    ['invalid JSON', '{"type":"lookup",}\n'],
    ['unknown type', '{"type":"ping","info_hash":"%AA"}\n'],
    ['lookup without info_hash', '{"type":"lookup","limit":5}\n'],
    ['bad info hash', '{"type":"lookup","info_hash":"%ZZ"}\n'],
    ['number as string', `{"type":"lookup","info_hash":"${'ab'.repeat(20)}","limit":"5"}\n`],
    ['a JSON null', 'null\n'],
    ['binary garbage', Buffer.from([0x7b, 0xff, 0x00, 0xfe, 0x0a])],
  ])('closes without a reply on %s', async (_name, line) => {
    const r = await exchange(a.port, line);
    expect(r).toEqual({ reply: Buffer.alloc(0), closed: true });
  });

  it('refuses bad providers and does not store them', async () => {
    const ih = randomInfoHash();
    const t = nowS();
    for (const prov of [
      `{"addr":"10.0.0.1","last_seen":${t}}`,
      `{"addr":"10.0.0.1:1","left":-1,"last_seen":${t}}`,
      `{"addr":"10.0.0.1:1","left":1e300,"last_seen":${t}}`,
      `{"addr":"10.0.0.1:1","last_seen":${t}.5}`,
    ]) {
      const r = await exchange(
        a.port,
        `{"type":"gossip","info_hash":"${pct(ih)}","providers":[{"addr":"10.0.0.2:1","last_seen":${t}},${prov}]}\n`,
      );
      expect(r).toEqual({ reply: Buffer.alloc(0), closed: true });
    }
    expect((await exchange(a.port, lookupLine(ih))).reply.toString()).toBe('[]\n');
  });

  it('closes a silent or slow connection after the read timeout, an oversized one at once', async () => {
    const started = Date.now();
    const silent = await exchange(a.port, '{"type":"lookup"', { timeoutMs: 3000 });
    expect(silent).toEqual({ reply: Buffer.alloc(0), closed: true });
    expect(Date.now() - started).toBeLessThan(2500);
    const slow = await exchange(a.port, ['{"type":', '"lookup",', '"info_hash"', ':"x"}'], {
      gapMs: 200,
    });
    expect(slow).toEqual({ reply: Buffer.alloc(0), closed: true });
    const big = await exchange(a.port, `{"type":"lookup","x":"${'a'.repeat(70 * 1024)}"}\n`);
    expect(big).toEqual({ reply: Buffer.alloc(0), closed: true });
    // And the agent still answers both protocols.
    expect((await exchange(a.port, lookupLine(randomInfoHash()))).reply.toString()).toBe('[]\n');
    expect(await grpcA.health()).toBe('SERVING');
  });
});

describe('legacy modes and the connection cap', () => {
  it('read-only answers lookups and ignores announces and gossip', async () => {
    const ro = await startAgent(['--legacy-mode', 'read-only']);
    const client = connect(ro.addr);
    try {
      const ih = randomInfoHash();
      await client.announce({ infoHash: Buffer.from(ih, 'hex'), addr: '10.0.0.5:6881' });
      await exchange(
        ro.port,
        `{"type":"announce","info_hash":"${pct(ih)}","providers":[{"addr":"10.0.0.6:6881","peer_id":"","left":0,"last_seen":0}]}\n`,
      );
      const r = JSON.parse((await exchange(ro.port, lookupLine(ih))).reply.toString()) as {
        addr: string;
      }[];
      expect(r.map((p) => p.addr)).toEqual(['10.0.0.5:6881']);
    } finally {
      client.close();
      await ro.stop();
    }
  });

  it('off closes legacy connections without a reply while gRPC works', async () => {
    const off = await startAgent(['--legacy-mode', 'off']);
    const client = connect(off.addr);
    try {
      const r = await exchange(off.port, lookupLine(randomInfoHash()));
      expect(r).toEqual({ reply: Buffer.alloc(0), closed: true });
      expect(await client.health()).toBe('SERVING');
    } finally {
      client.close();
      await off.stop();
    }
  });

  it('caps concurrent legacy connections; the next one is closed at once', async () => {
    const capped = await startAgent([
      '--legacy-max-connections',
      '2',
      '--legacy-read-timeout',
      '2s',
    ]);
    try {
      const hold = [0, 1].map(() => exchange(capped.port, '{"type":', { timeoutMs: 4000 }));
      await new Promise((r) => setTimeout(r, 300));
      const started = Date.now();
      const third = await exchange(capped.port, lookupLine(randomInfoHash()));
      expect(third).toEqual({ reply: Buffer.alloc(0), closed: true });
      expect(Date.now() - started).toBeLessThan(1000);
      await Promise.all(hold);
      expect((await exchange(capped.port, lookupLine(randomInfoHash()))).reply.toString()).toBe(
        '[]\n',
      );
    } finally {
      await capped.stop();
    }
  });
});

describe('legacy clients and nodes with a 2-agent cluster', () => {
  let a: AgentProcess;
  let b: AgentProcess;
  let fake: Server;
  let fakePort: number;
  const received: string[] = [];
  beforeAll(async () => {
    // A fake Go node on 127.0.0.3: reads one JSON value per connection, as the contract says.
    fake = createServer((s) => {
      let buf = '';
      s.on('data', (d: Buffer) => {
        buf += d.toString('utf8');
      });
      s.on('end', () => {
        received.push(buf);
        s.end();
      });
      s.on('error', () => s.destroy());
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.3', r));
    fakePort = (fake.address() as { port: number }).port;
    // Each agent replicates to the other (ports picked first so each can name the other).
    const [portA, portB] = await Promise.all([freePort(), freePort()]);
    [a, b] = await Promise.all([
      startAgent([
        '--listen',
        `127.0.0.1:${portA}`,
        '--node-id',
        'agent-a',
        '--bootstrap',
        `127.0.0.1:${portB}`,
        '--legacy-peers',
        `127.0.0.3:${fakePort}`,
        '--legacy-gossip-interval',
        '300ms',
      ]),
      startAgent([
        '--listen',
        `127.0.0.1:${portB}`,
        '--node-id',
        'agent-b',
        '--bootstrap',
        `127.0.0.1:${portA}`,
      ]),
    ]);
  });
  afterAll(async () => {
    await Promise.all([a.stop(), b.stop()]);
    await new Promise((r) => fake.close(r));
  });

  it('a legacy announce on A is found by a legacy lookup on B, and a gRPC announce on B by one on A', async () => {
    const ih1 = randomInfoHash();
    await exchange(
      a.port,
      `{"type":"announce","info_hash":"${pct(ih1)}","providers":[{"addr":"10.1.0.1:6881","peer_id":"-GO0001-abcdefghijkl","left":42,"last_seen":0}]}\n`,
    );
    let found = '';
    expect(
      await eventually(async () => {
        found = (await exchange(b.port, lookupLine(ih1))).reply.toString();
        return found !== '[]\n';
      }, 10_000),
    ).toBe(true);
    expect(found).toMatch(
      /^\[\{"addr":"10\.1\.0\.1:6881","peer_id":"-GO0001-abcdefghijkl","left":42,"last_seen":\d{10}\}\]\n$/,
    );

    const ih2 = randomInfoHash();
    const client = connect(b.addr);
    try {
      await client.announce({
        infoHash: Buffer.from(ih2, 'hex'),
        addr: '10.2.0.1:51413',
        peerId: Buffer.from('-TR3000-000000000000'),
        left: 7n,
      });
    } finally {
      client.close();
    }
    const t = nowS();
    expect(
      await eventually(async () => {
        found = (await exchange(a.port, lookupLine(ih2))).reply.toString();
        return found !== '[]\n';
      }, 10_000),
    ).toBe(true);
    const [p] = JSON.parse(found) as { last_seen: number }[];
    expect(Math.abs(p.last_seen - t)).toBeLessThanOrEqual(2);
    expect(found).toBe(
      `[{"addr":"10.2.0.1:51413","peer_id":"-TR3000-000000000000","left":7,"last_seen":${p.last_seen}}]\n`,
    );
  }, 30_000);

  it('gossips to a legacy node in its exact format, never echoing its own records back', async () => {
    const ihAgent = randomInfoHash();
    const ihOther = randomInfoHash();
    const ihEcho = randomInfoHash();
    const client = connect(a.addr);
    try {
      await client.announce({
        infoHash: Buffer.from(ihAgent, 'hex'),
        addr: '10.3.0.1:6881',
        peerId: Buffer.from('-XX0001-<&>"aaaaaaaa'),
        left: 1n,
      });
    } finally {
      client.close();
    }
    const t = nowS();
    const gossipFrom = (ih: string, addr: string, localAddress: string): Promise<Exchange> =>
      exchange(
        a.port,
        `{"type":"gossip","info_hash":"${pct(ih)}","providers":[{"addr":"${addr}","peer_id":"","left":0,"last_seen":${t}}]}\n`,
        { localAddress },
      );
    await gossipFrom(ihOther, '10.4.0.1:6000', '127.0.0.4'); // another legacy node
    await gossipFrom(ihEcho, '10.5.0.1:6000', '127.0.0.3'); // the fake node itself
    const agentLine = (): string | undefined => received.find((l) => l.includes(pct(ihAgent)));
    expect(
      await eventually(
        () => agentLine() !== undefined && received.some((l) => l.includes(pct(ihOther))),
        5000,
      ),
    ).toBe(true);
    const line = agentLine()!;
    expect(line).toMatch(
      new RegExp(
        `^\\{"type":"gossip","info_hash":"${pct(ihAgent)}","providers":\\[\\{"addr":"10\\.3\\.0\\.1:6881","peer_id":"-XX0001-\\\\u003c\\\\u0026\\\\u003e\\\\"aaaaaaaa","left":1,"last_seen":\\d{10}\\}\\]\\}\\n$`,
      ),
    );
    expect(received.find((l) => l.includes(pct(ihOther)))).toBe(
      `{"type":"gossip","info_hash":"${pct(ihOther)}","providers":[{"addr":"10.4.0.1:6000","peer_id":"","left":0,"last_seen":${t}}]}\n`,
    );
    // Several more rounds: the fake node's own record never comes back to it.
    const count = received.length;
    await eventually(() => received.length > count + 6, 5000);
    expect(received.some((l) => l.includes(pct(ihEcho)))).toBe(false);
    for (const l of received) expect(() => JSON.parse(l) as unknown).not.toThrow();
  }, 30_000);
});

describe('a dead legacy peer', () => {
  it('costs one 1.2 s dial timeout per round and never holds up gossip to live peers', async () => {
    // A listener that never accepts, with its accept queue full: further SYNs are
    // dropped, so a dial to it hangs until the dialler's own timeout (a real dead host).
    const hole = spawn('python3', [
      '-c',
      'import socket,sys,time\n' +
        "s=socket.socket(); s.bind(('127.0.0.5',0)); s.listen(0)\n" +
        'print(s.getsockname()[1], flush=True); time.sleep(60)',
    ]);
    const holePort = await new Promise<number>((resolve, reject) => {
      hole.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      hole.once('error', reject);
    });
    const filler = tcpConnect({ host: '127.0.0.5', port: holePort });
    await new Promise((r) => filler.once('connect', r));
    const lines: string[] = [];
    const live = createServer((s) => {
      let buf = '';
      s.on('data', (d: Buffer) => (buf += d.toString()));
      s.on('end', () => {
        lines.push(buf);
        s.end();
      });
      s.on('error', () => s.destroy());
    });
    await new Promise<void>((r) => live.listen(0, '127.0.0.3', r));
    const livePort = (live.address() as { port: number }).port;
    const agent = await startAgent([
      '--legacy-peers',
      `127.0.0.5:${holePort},127.0.0.3:${livePort}`,
      '--legacy-gossip-interval',
      '200ms',
      '--log-level',
      'debug',
    ]);
    const client = connect(agent.addr);
    try {
      const ih = randomInfoHash();
      await client.announce({ infoHash: Buffer.from(ih, 'hex'), addr: '10.6.0.1:6881' });
      // The live node gets a round about every 200 ms while the dead one's dial hangs.
      expect(await eventually(() => lines.some((l) => l.includes(pct(ih))), 5000)).toBe(true);
      const first = Date.now();
      const before = lines.length;
      const stopped = await agent.waitForLog(
        (l) =>
          l.msg === 'legacy gossip round stopped' &&
          l.peer === `127.0.0.5:${holePort}` &&
          /dial timeout/.test(String(l.err)),
        8000,
      );
      const ms = Number(/after (\d+) ms/.exec(String(stopped.err))?.[1]);
      expect(ms).toBeGreaterThanOrEqual(1190);
      expect(ms).toBeLessThan(2500);
      await eventually(() => Date.now() - first > 1000, 2000);
      // Over a second of 200 ms rounds reached the live node meanwhile.
      expect(lines.length - before).toBeGreaterThanOrEqual(3);
      expect(await client.health()).toBe('SERVING');
    } finally {
      client.close();
      filler.destroy();
      hole.kill();
      await agent.stop();
      await new Promise((r) => live.close(r));
    }
  }, 30_000);
});
