/**
 * The tracker's HTTP fast path on a real agent: pipelined announces on one
 * keep-alive connection are answered in order with node:http's exact headers,
 * every announce is stored and counted, and the same connection still
 * reaches /metrics (handed to node:http) afterwards.
 */
import bencodeLib from 'bencode';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../control/client.js';
import { randomInfoHash, startAgent, type AgentProcess } from './helpers/agent-process.js';

const esc = (b: Buffer): string =>
  [...b].map((x) => '%' + x.toString(16).padStart(2, '0')).join('');

/** Writes `request` on one connection; resolves with what was read once `done(text)` or close. */
function exchange(port: number, request: string, done: (text: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tcpConnect({ host: '127.0.0.1', port });
    let text = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no complete answer: ${text.slice(0, 300)}`));
    }, 8000);
    const finish = (): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(text);
    };
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (done(text)) finish();
    });
    s.on('close', finish);
    s.on('error', reject);
    s.once('connect', () => s.write(request));
  });
}

/** Replies of a stream: status line, header lines (without Date), body. */
function split(text: string): { head: string[]; body: Buffer }[] {
  const out: { head: string[]; body: Buffer }[] = [];
  let rest = text;
  while (rest.includes('\r\n\r\n')) {
    const end = rest.indexOf('\r\n\r\n');
    const head = rest.slice(0, end).split('\r\n');
    const length = Number(
      head.find((l) => l.toLowerCase().startsWith('content-length:'))?.split(':')[1] ?? NaN,
    );
    if (Number.isNaN(length) || rest.length < end + 4 + length) break;
    out.push({
      head: head.filter((l) => !l.startsWith('Date: ')),
      body: Buffer.from(rest.slice(end + 4, end + 4 + length), 'latin1'),
    });
    rest = rest.slice(end + 4 + length);
  }
  return out;
}

describe('tracker fast path on a real agent', () => {
  let agent: AgentProcess;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bt-fast-'));
    agent = await startAgent(['--data-dir', dir, '--peer-port', '0']);
  });
  afterAll(async () => {
    await agent.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers pipelined announces in order, stores each, then serves /metrics on the same connection', async () => {
    const ih = Buffer.from(randomInfoHash(), 'hex');
    const announce = (i: number): string =>
      `GET /announce?info_hash=${esc(ih)}&peer_id=-FP0001-${String(i).padStart(12, '0')}` +
      `&port=${7000 + i}&uploaded=0&downloaded=0&left=${i % 2}&compact=1 HTTP/1.1\r\nHost: a\r\n\r\n`;
    const request =
      [0, 1, 2, 3, 4].map(announce).join('') +
      'GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n';
    const text = await exchange(agent.port, request, (t) => split(t).length === 6);
    const replies = split(text);
    expect(replies).toHaveLength(6);
    replies.slice(0, 5).forEach((r, i) => {
      expect(r.head).toEqual([
        'HTTP/1.1 200 OK',
        'content-type: text/plain',
        `content-length: ${r.body.length}`,
        'cache-control: no-store',
        'Connection: keep-alive',
        'Keep-Alive: timeout=5',
      ]);
      const d = bencodeLib.decode(r.body) as unknown as { peers: Uint8Array };
      // Pipelined requests are handled concurrently (as node:http does): each reply
      // holds some of the others (compact, 6 bytes a peer), never the requester.
      const peers = Buffer.from(d.peers);
      const ports = [];
      for (let o = 0; o + 6 <= peers.length; o += 6) ports.push(peers.readUInt16BE(o + 4));
      expect(new Set(ports).size).toBe(ports.length);
      for (const p of ports) expect(p !== 7000 + i && p >= 7000 && p <= 7004).toBe(true);
    });
    const metrics = replies[5].body.toString();
    expect(replies[5].head[0]).toBe('HTTP/1.1 200 OK');
    expect(metrics).toMatch(/btoverlay_tracker_announces_total\{event="none",result="ok"\} 5/);
    expect(metrics).toMatch(
      /btoverlay_http_request_duration_seconds_count\{route="\/announce",code="200"\} 5/,
    );
    // Stored: the overlay's own API has all five.
    const client = connect(agent.addr);
    try {
      const found = await client.lookup(ih);
      expect(found.map((p) => p.addr).sort()).toEqual(
        [7000, 7001, 7002, 7003, 7004].map((p) => `127.0.0.1:${p}`),
      );
    } finally {
      client.close();
    }
  });
});
