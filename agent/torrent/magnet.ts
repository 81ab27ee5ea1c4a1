/**
 * Magnet links (BEP 9): `magnet:?xt=urn:btih:<info hash>&dn=<name>&tr=<tracker>&x.pe=<peer>`.
 * Pure: no I/O.
 *
 * The info hash is 40 hex digits or 32 base32 characters (RFC 4648 §6), exactly the forms
 * btctl's info-hash parser accepts in a magnet (control/infohash.ts; the agent does not
 * import control/, a property test keeps the two in step). Only v1 (SHA-1) torrents are
 * supported: a v2-only link (`urn:btmh:`, BEP 52) is refused with a clear error.
 */
import { MagnetError } from './errors.js';
import { formatPeerAddr, parsePeerAddr, type PeerAddr } from './peer-source.js';

export { MagnetError };

/** Bounds: a magnet is typed or pasted; anything longer is not a real link. */
export const MAGNET_LIMITS = {
  /** Whole link, characters. */
  maxLength: 16 * 1024,
  /** `tr` parameters kept (real links carry a handful to a few dozen). */
  maxTrackers: 64,
  /** `x.pe` peer addresses kept. */
  maxPeers: 200,
  /** `dn` (display name), characters. */
  maxNameLength: 1024,
  /** One tracker URL, characters. */
  maxUrlLength: 2048,
} as const;

/** A parsed magnet link. */
export interface Magnet {
  /** The 20-byte v1 info hash. */
  readonly infoHash: Buffer;
  readonly infoHashHex: string;
  /** `dn`: a display name until the metadata names the torrent; '' when absent. */
  readonly name: string;
  /** `tr`: tracker URLs in link order, de-duplicated. */
  readonly trackers: readonly string[];
  /** `x.pe`: peer addresses to dial, de-duplicated. */
  readonly peers: readonly PeerAddr[];
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** Decodes 32 base32 characters (RFC 4648 §6, no padding) into 20 bytes. */
function base32To20(text: string): Buffer {
  const out = Buffer.alloc(20);
  let bits = 0;
  let value = 0;
  let n = 0;
  for (const ch of text.toUpperCase()) {
    value = ((value << 5) | BASE32.indexOf(ch)) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out[n++] = (value >>> (bits - 8)) & 0xff;
      bits -= 8;
    }
  }
  return out;
}

/** Parses a BEP 9 `urn:btih:` value's hash (40 hex or 32 base32), or null if neither. */
function btih(hash: string): Buffer | null {
  if (/^[0-9a-fA-F]{40}$/.test(hash)) return Buffer.from(hash, 'hex');
  if (/^[A-Za-z2-7]{32}$/.test(hash)) return base32To20(hash);
  return null;
}

/** Keys may carry a BEP 9-style index (`xt.1`, `tr.2`): the base name without it. */
const baseKey = (k: string): string => k.replace(/\.\d+$/, '');

const short = (s: string): string => JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);

/** Parses a magnet link. Throws MagnetError naming the parameter that is wrong. */
export function parseMagnet(text: string): Magnet {
  const link = text.trim();
  if (link.length > MAGNET_LIMITS.maxLength)
    throw new MagnetError('magnet', `longer than ${MAGNET_LIMITS.maxLength} characters`);
  if (!/^magnet:\?/i.test(link))
    throw new MagnetError('magnet', `${short(link)} does not start with "magnet:?"`);
  let params: URLSearchParams;
  try {
    params = new URLSearchParams(link.slice(link.indexOf('?') + 1));
  } catch (e) {
    throw new MagnetError('magnet', `malformed query (${(e as Error).message})`);
  }
  let infoHash: Buffer | null = null;
  let sawV2 = false;
  let name = '';
  const trackers: string[] = [];
  const peers = new Map<string, PeerAddr>();
  for (const [rawKey, value] of params) {
    const key = baseKey(rawKey);
    if (key === 'xt') {
      const m = /^urn:btih:(.*)$/i.exec(value);
      if (m !== null) {
        const h = btih(m[1]!);
        if (h === null)
          throw new MagnetError(
            'xt',
            `urn:btih:${short(m[1]!)} is not 40 hex digits or 32 base32 characters`,
          );
        if (infoHash !== null && !infoHash.equals(h))
          throw new MagnetError('xt', 'names two different info hashes');
        infoHash = h;
      } else if (/^urn:btmh:/i.test(value)) sawV2 = true;
      // Other URNs (ed2k, sha1, …) belong to other networks: ignored.
    } else if (key === 'dn') {
      if (value.length > MAGNET_LIMITS.maxNameLength)
        throw new MagnetError('dn', `longer than ${MAGNET_LIMITS.maxNameLength} characters`);
      if (name === '') name = value;
    } else if (key === 'tr') {
      if (value.length > MAGNET_LIMITS.maxUrlLength)
        throw new MagnetError('tr', `URL longer than ${MAGNET_LIMITS.maxUrlLength} characters`);
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        throw new MagnetError('tr', `${short(value)} is not a URL`);
      }
      if (url.host === '') throw new MagnetError('tr', `${short(value)} names no host`);
      if (!trackers.includes(value)) {
        if (trackers.length >= MAGNET_LIMITS.maxTrackers)
          throw new MagnetError('tr', `more than ${MAGNET_LIMITS.maxTrackers} trackers`);
        trackers.push(value);
      }
    } else if (key === 'x.pe') {
      let a: PeerAddr;
      try {
        a = parsePeerAddr(value);
      } catch (e) {
        throw new MagnetError('x.pe', (e as Error).message);
      }
      const k = formatPeerAddr(a);
      if (!peers.has(k)) {
        if (peers.size >= MAGNET_LIMITS.maxPeers)
          throw new MagnetError('x.pe', `more than ${MAGNET_LIMITS.maxPeers} peers`);
        peers.set(k, a);
      }
    }
    // Every other parameter (xl, ws, as, kt, so, …) is optional and ignored.
  }
  if (infoHash === null)
    throw new MagnetError(
      'xt',
      sawV2
        ? 'only a v2 info hash (urn:btmh, BEP 52) is given; the engine needs urn:btih (v1)'
        : 'missing: want xt=urn:btih:<40 hex digits or 32 base32 characters>',
    );
  return {
    infoHash,
    infoHashHex: infoHash.toString('hex'),
    name,
    trackers,
    peers: [...peers.values()],
  };
}

/** True when `text` looks like a magnet link (to choose between a file and a link). */
export function isMagnetLink(text: string): boolean {
  return /^\s*magnet:/i.test(text);
}

/** Formats a magnet link (hex info hash; `dn`, `tr`, `x.pe` percent-encoded). */
export function formatMagnet(m: {
  infoHash: Uint8Array;
  name?: string;
  trackers?: readonly string[];
  peers?: readonly PeerAddr[];
}): string {
  let s = `magnet:?xt=urn:btih:${Buffer.from(m.infoHash).toString('hex')}`;
  if (m.name) s += `&dn=${encodeURIComponent(m.name)}`;
  for (const t of m.trackers ?? []) s += `&tr=${encodeURIComponent(t)}`;
  for (const p of m.peers ?? []) s += `&x.pe=${encodeURIComponent(formatPeerAddr(p))}`;
  return s;
}
