/**
 * Tracker replies, bencoded: announce (BEP 3 dictionary peers, BEP 23 compact
 * `peers`, BEP 7 compact `peers6`), scrape (BEP 48) and failures. Pure.
 */
import { bencode, type BencodeValue } from './bencode.js';

/** A peer to hand out: host (IP literal or DNS name, no brackets), port, raw peer id. */
export interface TrackerPeer {
  readonly host: string;
  readonly port: number;
  /** Raw bytes as a latin1 string. */
  readonly peerId: string;
}

/** What an announce reply says. */
export interface AnnounceReply {
  /** Seconds until the client should announce again (BEP 3 `interval`). */
  readonly interval: number;
  /** Seconds the client must wait at least (`min interval`, a de-facto extension). */
  readonly minInterval: number;
  /** Seeders and leechers known for the torrent (de-facto, as BEP 48 counts them). */
  readonly complete: number;
  readonly incomplete: number;
  readonly peers: readonly TrackerPeer[];
  /** BEP 23 compact form (else BEP 3 dictionaries). */
  readonly compact: boolean;
  /** Leave `peer id` out of dictionary peers (no_peer_id=1). */
  readonly noPeerId: boolean;
}

/** Per-torrent counts of a scrape (BEP 48). */
export interface ScrapeFile {
  /** Store key: lowercase hex of the 20 raw bytes. */
  readonly infoHash: string;
  readonly complete: number;
  readonly incomplete: number;
  readonly downloaded: number;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** The 4 bytes of a dotted-quad IPv4 address as a byte string, or undefined. */
export function ipv4Bytes(host: string): string | undefined {
  const m = IPV4.exec(host);
  if (m === null) return undefined;
  let out = '';
  for (let i = 1; i <= 4; i++) {
    const n = Number(m[i]);
    if (n > 255) return undefined;
    out += String.fromCharCode(n);
  }
  return out;
}

/** The 16 bytes of an IPv6 literal (RFC 4291 §2.2 text forms) as a byte string, or undefined. */
export function ipv6Bytes(host: string): string | undefined {
  if (!host.includes(':')) return undefined;
  let text = host;
  let tail = '';
  // §2.2 (3): the last 32 bits may be written as dotted IPv4.
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    const v4 = ipv4Bytes(text.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    tail = v4;
    text = text.slice(0, lastColon + 1) + '0:0';
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (s: string): string[] | undefined => {
    if (s === '') return [];
    const parts = s.split(':');
    return parts.every((p) => /^[0-9a-fA-F]{1,4}$/.test(p)) ? parts : undefined;
  };
  const head = groups(halves[0]);
  const rest = halves.length === 2 ? groups(halves[1]) : [];
  if (head === undefined || rest === undefined) return undefined;
  const missing = 8 - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...rest];
  let out = '';
  for (const g of all) {
    const n = parseInt(g, 16);
    out += String.fromCharCode(n >> 8, n & 0xff);
  }
  return tail === '' ? out : out.slice(0, 12) + tail;
}

function portBytes(port: number): string {
  return String.fromCharCode(port >> 8, port & 0xff);
}

/** Encodes an announce reply. In compact form, peers named by DNS name cannot be carried and are left out. */
export function encodeAnnounceReply(r: AnnounceReply): Buffer {
  const dict: Record<string, BencodeValue> = {
    interval: r.interval,
    'min interval': r.minInterval,
    complete: r.complete,
    incomplete: r.incomplete,
  };
  if (r.compact) {
    let peers = '';
    let peers6 = '';
    for (const p of r.peers) {
      const v4 = ipv4Bytes(p.host);
      if (v4 !== undefined) {
        peers += v4 + portBytes(p.port);
        continue;
      }
      const v6 = ipv6Bytes(p.host);
      if (v6 !== undefined) peers6 += v6 + portBytes(p.port);
    }
    dict.peers = peers;
    if (peers6 !== '') dict.peers6 = peers6;
  } else {
    dict.peers = r.peers.map((p): BencodeValue => {
      const peer: Record<string, BencodeValue> = { ip: p.host, port: p.port };
      if (!r.noPeerId) peer['peer id'] = p.peerId;
      return peer;
    });
  }
  return bencode(dict);
}

/** A failure reply: `failure reason` (BEP 3), readable by every client. */
export function encodeFailure(reason: string): Buffer {
  return bencode({ 'failure reason': reason });
}

/** A scrape reply: `files` keyed by the raw 20-byte info hash (BEP 48). */
export function encodeScrapeReply(files: readonly ScrapeFile[]): Buffer {
  const out: Record<string, BencodeValue> = {};
  for (const f of files) {
    out[Buffer.from(f.infoHash, 'hex').toString('latin1')] = {
      complete: f.complete,
      downloaded: f.downloaded,
      incomplete: f.incomplete,
    };
  }
  return bencode({ files: out });
}
