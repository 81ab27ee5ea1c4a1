/**
 * Tracker client: HTTP (BEP 3 announce; BEP 23 compact peers; dictionary peers; BEP 7
 * `peers6`) and UDP (BEP 15, udp-tracker.ts) trackers in BEP 12 tiers. The HTTP response
 * parser is pure; `TrackerClient` does the I/O with a timeout and a response size bound.
 */
import http from 'node:http';
import https from 'node:https';
import bencode, { type BValue } from 'bencode';
import { TrackerError } from './errors.js';
import {
  MIN_INTERVAL_SEC,
  type AnnounceParams,
  type AnnounceResult,
  type PeerAddr,
  type PeerSource,
} from './peer-source.js';
import { UdpTracker } from './udp-tracker.js';

export { MIN_INTERVAL_SEC };

/** Bound on a tracker response body. */
export const MAX_TRACKER_RESPONSE = 2 * 1024 * 1024;
const DEFAULT_INTERVAL_SEC = 1800;

/** Percent-encodes raw bytes for a query string (BEP 3: info_hash and peer_id are binary). */
export function escapeBytes(b: Uint8Array): string {
  let s = '';
  for (const c of b) {
    if (
      (c >= 0x30 && c <= 0x39) ||
      (c >= 0x41 && c <= 0x5a) ||
      (c >= 0x61 && c <= 0x7a) ||
      c === 0x2d ||
      c === 0x2e ||
      c === 0x5f ||
      c === 0x7e
    )
      s += String.fromCharCode(c);
    else s += '%' + c.toString(16).padStart(2, '0').toUpperCase();
  }
  return s;
}

/** Builds the announce URL for `base` (which may already carry a query). */
export function announceUrl(base: string, p: AnnounceParams): string {
  const q = [
    `info_hash=${escapeBytes(p.infoHash)}`,
    `peer_id=${escapeBytes(p.peerId)}`,
    `port=${p.port}`,
    `uploaded=${p.uploaded}`,
    `downloaded=${p.downloaded}`,
    `left=${p.left}`,
    'compact=1',
    `numwant=${p.numwant}`,
  ];
  if (p.event) q.push(`event=${p.event}`);
  return base + (base.includes('?') ? '&' : '?') + q.join('&');
}

const isBytes = (v: BValue | undefined): v is Uint8Array => v instanceof Uint8Array;

/** Parses a bencoded announce response. Throws TrackerError on `failure reason` or garbage. */
export function parseAnnounceResponse(body: Uint8Array): AnnounceResult & { warning?: string } {
  let root: BValue;
  try {
    root = bencode.decode(body);
  } catch {
    throw new TrackerError('tracker response is not bencoded');
  }
  if (typeof root !== 'object' || root instanceof Uint8Array || Array.isArray(root))
    throw new TrackerError('tracker response is not a dictionary');
  const fail = root['failure reason'];
  if (isBytes(fail))
    throw new TrackerError(`tracker failure: ${Buffer.from(fail).toString('utf8')}`);
  const peers: PeerAddr[] = [];
  const p4 = root['peers'];
  if (isBytes(p4)) {
    // BEP 23: 6 bytes per peer, IPv4 + port, network order.
    for (let i = 0; i + 6 <= p4.length; i += 6)
      peers.push({
        host: `${p4[i]}.${p4[i + 1]}.${p4[i + 2]}.${p4[i + 3]}`,
        port: (p4[i + 4]! << 8) | p4[i + 5]!,
      });
  } else if (Array.isArray(p4)) {
    for (const d of p4) {
      if (typeof d !== 'object' || d instanceof Uint8Array || Array.isArray(d)) continue;
      const ip = d['ip'];
      const port = d['port'];
      if (isBytes(ip) && typeof port === 'number' && port > 0 && port < 65536)
        peers.push({ host: Buffer.from(ip).toString('utf8'), port });
    }
  }
  const p6 = root['peers6'];
  if (isBytes(p6)) {
    for (let i = 0; i + 18 <= p6.length; i += 18) {
      const parts: string[] = [];
      for (let k = 0; k < 16; k += 2) parts.push(((p6[i + k]! << 8) | p6[i + k + 1]!).toString(16));
      peers.push({ host: parts.join(':'), port: (p6[i + 16]! << 8) | p6[i + 17]! });
    }
  }
  const iv = root['interval'];
  const intervalSec = Math.max(
    MIN_INTERVAL_SEC,
    typeof iv === 'number' && iv > 0 ? iv : DEFAULT_INTERVAL_SEC,
  );
  const warn = root['warning message'];
  return {
    peers: peers.filter((a) => a.port > 0),
    intervalSec,
    ...(isBytes(warn) ? { warning: Buffer.from(warn).toString('utf8') } : {}),
  };
}

/** GETs `url` with a timeout and a size bound. */
export function httpGet(
  url: string,
  timeoutMs: number,
  maxBytes = MAX_TRACKER_RESPONSE,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.get(url, { timeout: timeoutMs }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new TrackerError(`tracker HTTP status ${res.statusCode}`));
        return;
      }
      const chunks: Buffer[] = [];
      let n = 0;
      res.on('data', (c: Buffer) => {
        n += c.length;
        if (n > maxBytes) {
          req.destroy();
          reject(new TrackerError(`tracker response larger than ${maxBytes} bytes`));
        } else chunks.push(c);
      });
      res.on('end', () => resolve(Buffer.concat(chunks)));
      res.on('error', (e) => reject(new TrackerError(e.message)));
    });
    req.on('timeout', () => req.destroy(new TrackerError('tracker timeout')));
    req.on('error', (e) => reject(e instanceof TrackerError ? e : new TrackerError(e.message)));
  });
}

/**
 * A tracker tier list (BEP 12): URLs are tried in order; the first that answers is moved
 * to the front of its tier. http(s):// and udp:// (BEP 15) URLs are used; others (wss://)
 * are skipped.
 */
export class TrackerClient implements PeerSource {
  readonly name: string;
  private readonly tiers: string[][];
  private readonly udp: UdpTracker;

  constructor(
    tiers: readonly (readonly string[])[],
    private readonly timeoutMs = 15_000,
  ) {
    this.tiers = tiers
      .map((t) => t.filter((u) => /^(https?|udp):\/\//i.test(u)))
      .filter((t) => t.length > 0);
    this.name = this.tiers.flat()[0] ?? 'tracker';
    this.udp = new UdpTracker(timeoutMs);
  }

  /** True when at least one usable tracker is known. */
  get usable(): boolean {
    return this.tiers.length > 0;
  }

  async announce(p: AnnounceParams): Promise<AnnounceResult> {
    let last: Error = new TrackerError('no usable tracker');
    for (const tier of this.tiers) {
      for (let k = 0; k < tier.length; k++) {
        const url = tier[k]!;
        try {
          const r = /^udp:/i.test(url)
            ? await this.udp.announce(url, p)
            : parseAnnounceResponse(await httpGet(announceUrl(url, p), this.timeoutMs));
          tier.splice(k, 1);
          tier.unshift(url);
          return r;
        } catch (e) {
          last = e as Error;
        }
      }
    }
    throw last;
  }
}
