/**
 * The HTTP tracker endpoint on real agent processes, over raw HTTP/TCP: announces
 * to one agent are handed out by another (gossip in between), `stopped` withdraws
 * cluster-wide, scrape counts, and the endpoint's bounds (slow requests, connection
 * cap, oversized requests, methods) hold without touching gRPC or /metrics.
 */
import bencodeLib from 'bencode';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { connect as tcpConnect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../control/client.js';
import {
  eventually,
  randomInfoHash,
  startAgent,
  type AgentProcess,
} from './helpers/agent-process.js';

const dirs: string[] = [];
/** Flags every agent here gets: its own data dir and peer port, so agents never collide. */
function own(): string[] {
  const d = mkdtempSync(join(tmpdir(), 'bt-tracker-'));
  dirs.push(d);
  return ['--data-dir', d, '--peer-port', '0'];
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

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

const esc = (b: Buffer): string =>
  [...b].map((x) => '%' + x.toString(16).padStart(2, '0')).join('');

interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One HTTP/1.1 request from `localAddress` (a fresh connection). */
function get(
  port: number,
  path: string,
  opts: { localAddress?: string; method?: string } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: opts.method ?? 'GET',
        localAddress: opts.localAddress,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

interface AnnounceReply {
  interval?: number;
  complete?: number;
  incomplete?: number;
  peers?: Uint8Array;
  'failure reason'?: Uint8Array;
  files?: Record<string, { complete: number; incomplete: number; downloaded: number }>;
}

const decode = (b: Buffer): AnnounceReply => bencodeLib.decode(b) as unknown as AnnounceReply;

function compact(peers: Uint8Array | undefined): string[] {
  const b = Buffer.from(peers ?? new Uint8Array());
  const out: string[] = [];
  for (let i = 0; i + 6 <= b.length; i += 6) {
    out.push(`${b[i]}.${b[i + 1]}.${b[i + 2]}.${b[i + 3]}:${b.readUInt16BE(i + 4)}`);
  }
  return out;
}

function announcePath(ih: Buffer, peerPort: number, extra = ''): string {
  const peerId = `-XX0001-${String(peerPort).padStart(12, '0')}`;
  return `/announce?info_hash=${esc(ih)}&peer_id=${peerId}&port=${peerPort}&uploaded=0&downloaded=0&left=100${extra}`;
}

describe('tracker endpoint on a 2-agent cluster', () => {
  let a: AgentProcess;
  let b: AgentProcess;
  beforeAll(async () => {
    const [portA, portB] = await Promise.all([freePort(), freePort()]);
    [a, b] = await Promise.all([
      startAgent([...own(), '--listen', `127.0.0.1:${portA}`, '--bootstrap', `127.0.0.1:${portB}`]),
      startAgent([...own(), '--listen', `127.0.0.1:${portB}`, '--bootstrap', `127.0.0.1:${portA}`]),
    ]);
  });
  afterAll(async () => {
    await Promise.all([a.stop(), b.stop()]);
  });

  it("hands a peer announced to A to a client of B, at the requester's observed address", async () => {
    const ih = Buffer.from(randomInfoHash(), 'hex');
    const first = decode(
      (await get(a.port, announcePath(ih, 7001, '&event=started'), { localAddress: '127.0.0.7' }))
        .body,
    );
    expect(first).toMatchObject({ interval: 30, complete: 0, incomplete: 1 });
    expect(compact(first.peers)).toEqual([]);
    let peers: string[] = [];
    expect(
      await eventually(async () => {
        const r = decode(
          (await get(b.port, announcePath(ih, 7002), { localAddress: '127.0.0.8' })).body,
        );
        peers = compact(r.peers);
        return peers.length > 0;
      }, 10_000),
    ).toBe(true);
    expect(peers).toEqual(['127.0.0.7:7001']);
    // The same record through the overlay's own API, on either agent.
    const client = connect(b.addr);
    try {
      const found = await client.lookup(ih);
      expect(found.map((p) => p.addr).sort()).toEqual(['127.0.0.7:7001', '127.0.0.8:7002']);
      expect(found.find((p) => p.addr === '127.0.0.7:7001')?.peerId).toEqual(
        Buffer.from('-XX0001-000000007001'),
      );
    } finally {
      client.close();
    }
  }, 30_000);

  it('stopped on A withdraws the peer from B within 2 s; scrape counts what is live', async () => {
    const ih = Buffer.from(randomInfoHash(), 'hex');
    await get(a.port, announcePath(ih, 7101, '&left=0'), { localAddress: '127.0.0.9' });
    await get(a.port, announcePath(ih, 7102, '&left=0&event=completed'), {
      localAddress: '127.0.0.9',
    });
    await get(b.port, announcePath(ih, 7103), { localAddress: '127.0.0.10' });
    const scrapeB = async (): Promise<{
      complete: number;
      incomplete: number;
      downloaded: number;
    }> => {
      const r = decode((await get(b.port, `/scrape?info_hash=${esc(ih)}`)).body);
      return Object.values(r.files ?? {})[0];
    };
    expect(await eventually(async () => (await scrapeB()).complete === 2, 10_000)).toBe(true);
    expect(await scrapeB()).toEqual({ complete: 2, incomplete: 1, downloaded: 0 });
    const scrapeA = decode((await get(a.port, `/scrape?info_hash=${esc(ih)}`)).body);
    expect(Object.values(scrapeA.files ?? {})[0]).toMatchObject({ downloaded: 1 });

    const stoppedAt = Date.now();
    await get(a.port, announcePath(ih, 7101, '&left=0&event=stopped'), {
      localAddress: '127.0.0.9',
    });
    expect(
      await eventually(async () => {
        const r = decode(
          (await get(b.port, announcePath(ih, 7103), { localAddress: '127.0.0.10' })).body,
        );
        return !compact(r.peers).includes('127.0.0.9:7101');
      }, 5000),
    ).toBe(true);
    expect(Date.now() - stoppedAt).toBeLessThan(2000);
    expect(await scrapeB()).toMatchObject({ complete: 1, incomplete: 1 });
  }, 30_000);

  it('answers bad requests with a bencoded failure reason, and leaves /metrics and gRPC alone', async () => {
    const ih = Buffer.from(randomInfoHash(), 'hex');
    const bad = await get(a.port, `/announce?info_hash=${esc(ih)}&peer_id=short&port=1&left=0`);
    expect(bad.status).toBe(200);
    expect(Buffer.from(decode(bad.body)['failure reason']!).toString()).toBe(
      'peer_id must be 20 bytes, got 5',
    );
    const noScrape = decode((await get(a.port, '/scrape')).body);
    expect(Buffer.from(noScrape['failure reason']!).toString()).toMatch(
      /full scrape not supported/,
    );
    expect((await get(a.port, announcePath(ih, 1), { method: 'POST' })).status).toBe(405);
    expect((await get(a.port, '/announcex')).status).toBe(404);
    const metrics = await get(a.port, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body.toString()).toMatch(
      /btoverlay_tracker_announces_total\{event="none",result="bad_peer_id"\} 1/,
    );
    const client = connect(a.addr);
    try {
      expect(await client.health()).toBe('SERVING');
    } finally {
      client.close();
    }
  });
});

/** Writes raw bytes on a new connection; resolves with everything read until close. */
function raw(
  port: number,
  parts: string[],
  gapMs = 0,
  timeoutMs = 5000,
): Promise<{ text: string; closed: boolean; ms: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const s = tcpConnect({ host: '127.0.0.1', port });
    let text = '';
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ text, closed, ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    s.on('data', (d: Buffer) => (text += d.toString('latin1')));
    s.on('close', () => finish(true));
    s.on('error', () => finish(true));
    s.once('connect', () => {
      void (async () => {
        for (const p of parts) {
          if (s.destroyed) return;
          s.write(p);
          if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
        }
      })();
    });
  });
}

describe('tracker endpoint bounds', () => {
  let agent: AgentProcess;
  beforeAll(async () => {
    agent = await startAgent([
      ...own(),
      '--http-request-timeout',
      '600ms',
      '--http-max-connections',
      '3',
      '--tracker-max-numwant',
      '5',
    ]);
  });
  afterAll(async () => {
    await agent.stop();
  });

  it('cuts a slow request (headers dribbled) with 408 after the request timeout', async () => {
    const parts = [
      'GET /announce?x=1 HTTP/1.1\r\n',
      ...Array.from({ length: 40 }, (_, i) => `X-${i}: y\r\n`),
    ];
    const r = await raw(agent.port, parts, 100, 8000);
    expect(r.closed).toBe(true);
    expect(r.text).toMatch(/^HTTP\/1\.1 408 /);
    expect(r.ms).toBeLessThan(3000);
  });

  it('caps concurrent connections: over the cap a 503 at once; the cap frees when they close', async () => {
    const held = [0, 1, 2].map(() => raw(agent.port, ['GET /announce HTTP/1.1\r\n'], 0, 5000));
    await new Promise((r) => setTimeout(r, 200));
    const over = await raw(agent.port, ['GET /scrape HTTP/1.1\r\nHost: x\r\n\r\n'], 0, 3000);
    expect(over.text).toMatch(/^HTTP\/1\.1 503 /);
    expect(over.ms).toBeLessThan(1000);
    await Promise.all(held);
    const ok = await get(agent.port, '/scrape');
    expect(ok.status).toBe(200);
  });

  it('refuses an oversized target (414), a body (413), huge headers (431); caps numwant', async () => {
    expect((await get(agent.port, `/announce?${'a=1&'.repeat(3000)}`)).status).toBe(414);
    const withBody = await raw(agent.port, [
      'GET /announce HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello',
    ]);
    expect(withBody.text).toMatch(/^HTTP\/1\.1 413 /);
    const hugeHeader = await raw(agent.port, [
      `GET /announce HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`,
    ]);
    expect(hugeHeader.text).toMatch(/^HTTP\/1\.1 431 /);
    const ih = Buffer.from(randomInfoHash(), 'hex');
    for (let i = 0; i < 8; i++) await get(agent.port, announcePath(ih, 8000 + i));
    const r = decode((await get(agent.port, announcePath(ih, 9000, '&numwant=100'))).body);
    expect(compact(r.peers)).toHaveLength(5);
  });

  it('with --tracker off, /announce is a 404 like any unknown path', async () => {
    const off = await startAgent([...own(), '--tracker', 'off']);
    try {
      expect((await get(off.port, '/announce')).status).toBe(404);
    } finally {
      await off.stop();
    }
  });
});
