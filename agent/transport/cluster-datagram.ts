import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { ExchangeRequest, type ClusterMessage } from '../../generated/btoverlay/v1/cluster.js';
import type { ClusterAuthenticator, ClusterAuthRefusal } from '../security/cluster-auth.js';
import { openBatch, sealBatch } from './cluster-seal.js';

/**
 * Largest datagram sent, bytes: under the 1500-byte Ethernet MTU with room for
 * IPv6 (40) + UDP (8) headers and overlay encapsulation (VXLAN adds 50), so a
 * probe is never fragmented. Bigger batches take the gRPC path.
 */
export const MAX_DATAGRAM_BYTES = 1350;
/** Largest datagram accepted (a peer with another MTU setting), bytes. */
const MAX_INBOUND_DATAGRAM_BYTES = 8192;

/** What the datagram transport needs from the agent. */
export interface DatagramOptions {
  /** "host:port" to bind: the gRPC listener's address (same port number, UDP). */
  readonly bind: string;
  /** Seals outgoing and checks incoming datagrams; undefined = unkeyed cluster. */
  readonly auth: ClusterAuthenticator | undefined;
  readonly clock: () => number;
  /** Called for every datagram refused for its authentication. */
  readonly onRefused: (reason: ClusterAuthRefusal, peer: string) => void;
  /** Per-source rate limit, asked before a datagram is decoded (false: dropped). */
  readonly allow?: (ip: string) => boolean;
}

/** Splits "host:port" / "[v6]:port". */
function splitAddr(addr: string): { host: string; port: number } {
  const colon = addr.lastIndexOf(':');
  let host = addr.slice(0, colon);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host, port: Number(addr.slice(colon + 1)) };
}

/**
 * SWIM's probes (ping, ack, ping-req) as UDP datagrams, one ExchangeRequest per
 * datagram, sealed exactly like a gRPC Exchange request when the cluster is
 * keyed. A probe round trip then costs two small packets instead of an HTTP/2
 * request and response (memberlist does the same). Loss is SWIM's business:
 * the indirect phase and a fallback ping over gRPC cover it.
 */
export class DatagramTransport {
  private socket: Socket | undefined;

  constructor(
    private readonly options: DatagramOptions,
    private readonly onMessages: (messages: ClusterMessage[], from: string) => void,
  ) {}

  /** Binds the socket. Rejects when the address cannot be bound. */
  async start(): Promise<void> {
    const { host, port } = splitAddr(this.options.bind);
    const socket = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    // Errors after binding (ICMP unreachable reported on send, etc.) are silence to SWIM.
    socket.on('error', () => undefined);
    socket.on('message', (buf, rinfo) => {
      if (this.options.allow?.(rinfo.address) === false) return;
      this.receive(
        buf,
        rinfo.family === 'IPv6'
          ? `[${rinfo.address}]:${rinfo.port}`
          : `${rinfo.address}:${rinfo.port}`,
      );
    });
    this.socket = socket;
  }

  /**
   * Encodes messages into one datagram for `addr`; returns false (nothing sent)
   * when it would exceed MAX_DATAGRAM_BYTES, so the caller uses gRPC instead.
   */
  send(addr: string, messages: ClusterMessage[]): boolean {
    const socket = this.socket;
    if (socket === undefined) return false;
    const auth = this.options.auth;
    let req: ExchangeRequest = { messages, sealed: Buffer.alloc(0), auth: undefined };
    if (auth !== undefined) {
      const s = sealBatch(auth, 'request', messages, this.options.clock());
      req = { messages: [], sealed: s.sealed, auth: s.auth };
    }
    const bytes = ExchangeRequest.encode(req).finish();
    if (bytes.length > MAX_DATAGRAM_BYTES) return false;
    const { host, port } = splitAddr(addr);
    socket.send(bytes, port, host);
    return true;
  }

  /** Closes the socket. */
  stop(): void {
    this.socket?.close();
    this.socket = undefined;
  }

  private receive(buf: Buffer, from: string): void {
    if (buf.length > MAX_INBOUND_DATAGRAM_BYTES) return;
    let req: ExchangeRequest;
    try {
      req = ExchangeRequest.decode(buf);
    } catch {
      return; // not ours: dropped
    }
    const auth = this.options.auth;
    if (auth === undefined) {
      if (req.auth !== undefined || req.sealed.length > 0) {
        this.options.onRefused('not_keyed', from);
        return;
      }
      this.onMessages(req.messages, from);
      return;
    }
    let opened: ReturnType<typeof openBatch>;
    try {
      opened = openBatch(auth, 'request', req.sealed, req.auth, this.options.clock());
    } catch {
      return;
    }
    if ('refused' in opened) {
      this.options.onRefused(opened.refused, from);
      return;
    }
    this.onMessages(opened.messages, from);
  }
}
