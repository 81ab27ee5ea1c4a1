/**
 * A minimal in-memory HTTP tracker (BEP 3 announce, BEP 23 compact or dictionary peers).
 * Meant for loopback tests, benchmarks and small private swarms: bounded swarms, peers
 * expire after two intervals, no scrape.
 */
import http from 'node:http';
import bencode from 'bencode';

export interface TrackerServerOptions {
  host?: string;
  port?: number;
  /** Announce interval we tell clients (seconds). */
  intervalSec?: number;
  /** Peers remembered per torrent. */
  maxPeersPerTorrent?: number;
  /** Torrents remembered. */
  maxTorrents?: number;
}

interface Entry {
  ip: string;
  port: number;
  peerId: Buffer;
  left: number;
  seenAt: number;
}

/** Decodes a query-string value that carries raw bytes (%XX escapes). */
function rawParam(query: string, name: string): Buffer | null {
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq) !== name) continue;
    const v = part.slice(eq + 1);
    const out: number[] = [];
    for (let i = 0; i < v.length; i++) {
      if (v[i] === '%' && i + 2 < v.length + 0 && /^[0-9a-fA-F]{2}$/.test(v.slice(i + 1, i + 3))) {
        out.push(parseInt(v.slice(i + 1, i + 3), 16));
        i += 2;
      } else out.push(v[i] === '+' ? 0x20 : v.charCodeAt(i) & 0xff);
    }
    return Buffer.from(out);
  }
  return null;
}

export class TrackerServer {
  private readonly server: http.Server;
  private readonly swarms = new Map<string, Map<string, Entry>>();
  private readonly interval: number;
  private readonly maxPeers: number;
  private readonly maxTorrents: number;
  /** Announces received, for observability in tests: event names in order. */
  readonly events: { infoHash: string; event: string; port: number; left: number }[] = [];

  constructor(private readonly o: TrackerServerOptions = {}) {
    this.interval = o.intervalSec ?? 60;
    this.maxPeers = o.maxPeersPerTorrent ?? 200;
    this.maxTorrents = o.maxTorrents ?? 1000;
    this.server = http.createServer((req, res) => this.handle(req, res));
  }

  /** Starts listening; resolves with the announce URL. */
  listen(): Promise<string> {
    return new Promise((resolve) => {
      this.server.listen(this.o.port ?? 0, this.o.host ?? '127.0.0.1', () => {
        const a = this.server.address() as { port: number };
        resolve(`http://${this.o.host ?? '127.0.0.1'}:${a.port}/announce`);
      });
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }

  private reply(res: http.ServerResponse, body: Record<string, unknown>): void {
    const b = Buffer.from(bencode.encode(body));
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': b.length });
    res.end(b);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = req.url ?? '';
    const q = url.includes('?') ? url.slice(url.indexOf('?') + 1) : '';
    if (!url.startsWith('/announce')) {
      res.writeHead(404).end();
      return;
    }
    const ih = rawParam(q, 'info_hash');
    const pid = rawParam(q, 'peer_id');
    const num = (n: string): number => Number(rawParam(q, n)?.toString('latin1') ?? NaN);
    const port = num('port');
    if (!ih || ih.length !== 20 || !pid || pid.length !== 20 || !(port > 0 && port < 65536)) {
      this.reply(res, {
        'failure reason': 'bad announce: info_hash, peer_id and port are required',
      });
      return;
    }
    const event = rawParam(q, 'event')?.toString('latin1') ?? '';
    const left = num('left');
    const ip = (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
    const key = ih.toString('hex');
    this.events.push({ infoHash: key, event, port, left });
    let swarm = this.swarms.get(key);
    if (!swarm) {
      if (this.swarms.size >= this.maxTorrents) {
        this.reply(res, { 'failure reason': 'tracker full' });
        return;
      }
      swarm = new Map();
      this.swarms.set(key, swarm);
    }
    const now = Date.now();
    for (const [k, e] of swarm) if (now - e.seenAt > 2 * this.interval * 1000) swarm.delete(k);
    const me = `${ip}:${port}`;
    if (event === 'stopped') swarm.delete(me);
    else if (swarm.has(me) || swarm.size < this.maxPeers)
      swarm.set(me, { ip, port, peerId: pid, left: Number.isFinite(left) ? left : 1, seenAt: now });
    const others = [...swarm.entries()].filter(([k]) => k !== me).map(([, e]) => e);
    const compact = rawParam(q, 'compact')?.toString('latin1') !== '0';
    const v4 = others.filter((e) => /^\d+\.\d+\.\d+\.\d+$/.test(e.ip));
    const peers = compact
      ? Buffer.concat(
          v4.map((e) => {
            const b = Buffer.alloc(6);
            e.ip.split('.').forEach((x, i) => (b[i] = Number(x)));
            b.writeUInt16BE(e.port, 4);
            return b;
          }),
        )
      : others.map((e) => ({ ip: e.ip, port: e.port, 'peer id': e.peerId }));
    const complete = [...swarm.values()].filter((e) => e.left === 0).length;
    this.reply(res, {
      interval: this.interval,
      complete,
      incomplete: swarm.size - complete,
      peers,
    });
  }
}
