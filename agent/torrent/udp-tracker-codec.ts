/**
 * BEP 15 UDP tracker protocol, as a pure codec: connect and announce requests, and the
 * connect, announce and error responses. No sockets; `udp-tracker.ts` does the I/O.
 */
import { TrackerError } from './errors.js';
import type { AnnounceEvent, PeerAddr } from './peer-source.js';

/** BEP 15: the magic constant a connect request carries as its connection id. */
export const PROTOCOL_ID = 0x41727101980n;

/** BEP 15 actions. */
export const ACTION = { connect: 0, announce: 1, scrape: 2, error: 3 } as const;

/** BEP 15 announce event codes. */
const EVENT_CODE: Record<Exclude<AnnounceEvent, undefined> | 'none', number> = {
  none: 0,
  completed: 1,
  started: 2,
  stopped: 3,
};

/** A connect response is 16 bytes; an announce response 20 bytes plus 6 (IPv4) per peer. */
const CONNECT_RESPONSE_BYTES = 16;
const ANNOUNCE_RESPONSE_HEADER = 20;
const ANNOUNCE_REQUEST_BYTES = 98;

/** Connect request (16 bytes). */
export function encodeConnect(transactionId: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeBigUInt64BE(PROTOCOL_ID, 0);
  b.writeUInt32BE(ACTION.connect, 8);
  b.writeUInt32BE(transactionId >>> 0, 12);
  return b;
}

export interface UdpAnnounceRequest {
  connectionId: bigint;
  transactionId: number;
  infoHash: Buffer;
  peerId: Buffer;
  downloaded: number;
  left: number;
  uploaded: number;
  event: AnnounceEvent;
  /** Random per-client key, so the tracker can tell us apart behind NAT. */
  key: number;
  numwant: number;
  port: number;
}

/** Announce request (98 bytes). IP 0: the tracker uses the datagram's source address. */
export function encodeAnnounce(r: UdpAnnounceRequest): Buffer {
  if (r.infoHash.length !== 20 || r.peerId.length !== 20)
    throw new RangeError('info hash and peer id must be 20 bytes');
  const b = Buffer.alloc(ANNOUNCE_REQUEST_BYTES);
  b.writeBigUInt64BE(r.connectionId, 0);
  b.writeUInt32BE(ACTION.announce, 8);
  b.writeUInt32BE(r.transactionId >>> 0, 12);
  r.infoHash.copy(b, 16);
  r.peerId.copy(b, 36);
  b.writeBigUInt64BE(BigInt(r.downloaded), 56);
  b.writeBigUInt64BE(BigInt(r.left), 64);
  b.writeBigUInt64BE(BigInt(r.uploaded), 72);
  b.writeUInt32BE(EVENT_CODE[r.event ?? 'none'], 80);
  b.writeUInt32BE(0, 84); // IP address: default
  b.writeUInt32BE(r.key >>> 0, 88);
  b.writeInt32BE(r.numwant, 92);
  b.writeUInt16BE(r.port, 96);
  return b;
}

export type UdpResponse =
  | { action: 'connect'; transactionId: number; connectionId: bigint }
  | {
      action: 'announce';
      transactionId: number;
      intervalSec: number;
      leechers: number;
      seeders: number;
      peers: PeerAddr[];
    }
  | { action: 'error'; transactionId: number; message: string };

/**
 * Parses a tracker datagram. `ipv6` selects BEP 15's 18-byte peer entries (the tracker
 * answers in its own address family). Throws TrackerError on anything malformed.
 */
export function decodeResponse(b: Buffer, ipv6 = false): UdpResponse {
  if (b.length < 8) throw new TrackerError(`UDP tracker response of ${b.length} bytes`);
  const action = b.readUInt32BE(0);
  const transactionId = b.readUInt32BE(4);
  switch (action) {
    case ACTION.connect:
      if (b.length < CONNECT_RESPONSE_BYTES)
        throw new TrackerError('UDP tracker connect response too short');
      return { action: 'connect', transactionId, connectionId: b.readBigUInt64BE(8) };
    case ACTION.announce: {
      if (b.length < ANNOUNCE_RESPONSE_HEADER)
        throw new TrackerError('UDP tracker announce response too short');
      const entry = ipv6 ? 18 : 6;
      if ((b.length - ANNOUNCE_RESPONSE_HEADER) % entry !== 0)
        throw new TrackerError('UDP tracker announce response has a partial peer entry');
      const peers: PeerAddr[] = [];
      for (let o = ANNOUNCE_RESPONSE_HEADER; o < b.length; o += entry) {
        const port = b.readUInt16BE(o + entry - 2);
        const host = ipv6 ? ipv6Text(b.subarray(o, o + 16)) : b.subarray(o, o + 4).join('.');
        if (port > 0) peers.push({ host, port });
      }
      return {
        action: 'announce',
        transactionId,
        intervalSec: b.readUInt32BE(8),
        leechers: b.readUInt32BE(12),
        seeders: b.readUInt32BE(16),
        peers,
      };
    }
    case ACTION.error:
      // The message is free text; bounded by the datagram, shown trimmed.
      return {
        action: 'error',
        transactionId,
        message: b.subarray(8, 8 + 200).toString('utf8'),
      };
    default:
      throw new TrackerError(`UDP tracker response with unknown action ${action}`);
  }
}

function ipv6Text(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  return groups.join(':');
}

/** Parses `udp://host:port[/path]`; throws TrackerError when it is not one. */
export function parseUdpTrackerUrl(url: string): { host: string; port: number } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TrackerError(`not a URL: ${url}`);
  }
  if (u.protocol !== 'udp:') throw new TrackerError(`not a udp:// tracker: ${url}`);
  const port = Number(u.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new TrackerError(`UDP tracker without a port: ${url}`);
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  return { host, port };
}
