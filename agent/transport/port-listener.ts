import { createServer, type Server, type Socket } from 'node:net';
import type { ConnectionTable } from './connection-limit.js';
import { sniff, SNIFF_BYTES, type SniffedProtocol } from './sniff.js';

/** Takes over a connection whose first bytes have been put back on the socket. */
export type ConnectionHandler = (socket: Socket) => void;

/** Options of the one-port listener. */
export interface PortListenerOptions {
  readonly host: string;
  readonly port: number;
  /**
   * A connection must send its first bytes (for gRPC: the whole HTTP/2 preface)
   * within this time, ms; else it is closed and counted as `sniff_timeout`.
   */
  readonly sniffTimeoutMs: number;
  /** Simultaneous connections accepted; past it new ones are dropped by the kernel queue. */
  readonly maxConnections: number;
  readonly handlers: Partial<Record<Exclude<SniffedProtocol, 'unknown'>, ConnectionHandler>>;
  /** Open connections per source, shared by every protocol; past its cap closed at accept. */
  readonly perSource?: ConnectionTable;
  /**
   * Trusted sources: only they may take the last `reservedForTrusted` of the
   * `maxConnections`, so outsiders holding the rest cannot lock the operator out.
   */
  readonly trusted?: (source: string) => boolean;
  /** Connections kept for trusted sources (default 100, 1 % of the agent's 10 000). */
  readonly reservedForTrusted?: number;
  /** Sources refused for a while (caught abusing the port): closed at accept. */
  readonly penalised?: (source: string) => boolean;
  /** Called with a reason for every connection closed before a handler took it. */
  readonly onReject?: (reason: PortRejectReason) => void;
}

/** Why the port listener closed a connection before any protocol handler saw it. */
export type PortRejectReason =
  | 'unknown_protocol'
  | 'no_handler'
  | 'sniff_timeout'
  | 'per_source_cap'
  | 'max_connections'
  | 'penalised';

/** The source key of an address: IPv4-mapped IPv6 (a dual-stack listener) as plain IPv4. */
export function sourceKey(ip: string | undefined): string {
  const a = ip ?? '';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

/** The source key of a socket (see sourceKey). */
export function sourceOf(socket: Socket): string {
  return sourceKey(socket.remoteAddress);
}

/**
 * The agent's single TCP port: reads the first bytes of each connection, decides
 * the protocol (see `sniff`), puts the bytes back with `unshift` and hands the
 * socket to that protocol's handler (grpc-js through a connection injector, the
 * legacy JSON handler, or the HTTP/1.1 handler).
 */
export class PortListener {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly options: PortListenerOptions) {
    this.server = createServer({ pauseOnConnect: true, noDelay: true }, (socket) =>
      this.accept(socket),
    );
    this.server.maxConnections = options.maxConnections;
    // Past the total the kernel-accepted socket is closed by Node; count it like the others.
    this.server.on('drop', () => options.onReject?.('max_connections'));
  }

  /** Binds the port. Resolves with the bound address (port 0 picks a free one). */
  listen(): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        resolve(this.address());
      });
    });
  }

  /** The bound address. */
  address(): { host: string; port: number } {
    const a = this.server.address();
    if (a === null || typeof a === 'string')
      return { host: this.options.host, port: this.options.port };
    return { host: a.address, port: a.port };
  }

  /** Stops accepting connections; established ones are left to their handlers. */
  stopAccepting(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Destroys every connection still open. */
  destroyAll(): void {
    for (const s of this.sockets) s.destroy();
  }

  /** Destroys every open connection of `source` (an expelled abuser); how many. O(connections). */
  destroySource(source: string): number {
    let n = 0;
    for (const s of this.sockets) {
      if (sourceOf(s) !== source) continue;
      s.destroy();
      n++;
    }
    return n;
  }

  private accept(socket: Socket): void {
    socket.on('error', () => socket.destroy());
    // The cap is applied before anything is read or any timer set: a refused
    // connection costs one accept and one close.
    const table = this.options.perSource;
    const source = sourceOf(socket);
    if (this.options.penalised?.(source) === true) {
      this.options.onReject?.('penalised');
      // RST, not FIN: no close handshake to wait through for a source sent away.
      socket.resetAndDestroy();
      return;
    }
    const reserve = Math.min(
      this.options.reservedForTrusted ?? 100,
      this.options.maxConnections - 1,
    );
    if (
      this.options.trusted !== undefined &&
      this.sockets.size >= this.options.maxConnections - reserve &&
      !this.options.trusted(source)
    ) {
      this.options.onReject?.('max_connections');
      socket.destroy();
      return;
    }
    if (table !== undefined && !table.tryOpen(source)) {
      this.options.onReject?.('per_source_cap');
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.once('close', () => {
      this.sockets.delete(socket);
      table?.close(source);
    });
    let prefix: Buffer = Buffer.alloc(0);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      finish(true);
    }, this.options.sniffTimeoutMs);
    const finish = (final: boolean): void => {
      const verdict = sniff(prefix, final);
      if (verdict === 'need-more') return;
      clearTimeout(timer);
      socket.off('readable', onReadable);
      socket.off('end', onEnd);
      if (prefix.length > 0) socket.unshift(prefix);
      if (verdict === 'unknown') {
        this.options.onReject?.(timedOut ? 'sniff_timeout' : 'unknown_protocol');
        socket.destroy();
        return;
      }
      const handler = this.options.handlers[verdict];
      if (handler === undefined) {
        this.options.onReject?.('no_handler');
        socket.destroy();
        return;
      }
      handler(socket);
    };
    const onReadable = (): void => {
      let chunk: Buffer | null;
      while (prefix.length < SNIFF_BYTES && (chunk = socket.read() as Buffer | null) !== null) {
        prefix = prefix.length === 0 ? chunk : Buffer.concat([prefix, chunk]);
      }
      finish(false);
    };
    const onEnd = (): void => finish(true);
    socket.on('readable', onReadable);
    socket.once('end', onEnd);
  }
}
