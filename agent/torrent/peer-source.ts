/**
 * Peer discovery seam. The session asks every `PeerSource` for peers on start, on its
 * interval, on completion and on stop. The HTTP tracker client is one implementation;
 * overlay discovery (next issue) is another. Push-style sources call `session.addPeers`.
 */

/** A peer's TCP address. */
export interface PeerAddr {
  host: string;
  port: number;
}

/** BEP 3 announce events. */
export type AnnounceEvent = 'started' | 'completed' | 'stopped' | undefined;

export interface AnnounceParams {
  infoHash: Buffer;
  peerId: Buffer;
  /** Our listening port (0 when not listening). */
  port: number;
  uploaded: number;
  downloaded: number;
  left: number;
  event: AnnounceEvent;
  numwant: number;
}

/** Floor on the announce interval we honour, so a broken tracker cannot make us spin. */
export const MIN_INTERVAL_SEC = 5;

export interface AnnounceResult {
  peers: PeerAddr[];
  /** Seconds until the next regular announce. */
  intervalSec: number;
}

export interface PeerSource {
  /** For logs and progress, e.g. the tracker URL. */
  readonly name: string;
  announce(p: AnnounceParams): Promise<AnnounceResult>;
}

/** Parses "host:port" (IPv6 as "[addr]:port"); throws on anything else. */
export function parsePeerAddr(s: string): PeerAddr {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(s) ?? /^([^:\s[\]]+):(\d{1,5})$/.exec(s);
  if (!m) throw new Error(`expected host:port, got ${JSON.stringify(s)}`);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw new Error(`port out of range in ${JSON.stringify(s)}`);
  return { host: m[1]!, port };
}

export const formatPeerAddr = (a: PeerAddr): string =>
  a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
