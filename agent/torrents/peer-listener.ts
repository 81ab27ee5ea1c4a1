/**
 * One peer-wire listener for all of the agent's torrents. It reads the start of each
 * incoming BEP 3 handshake (protocol string, reserved bytes, info hash) and hands the
 * socket, with the bytes read so far, to the session of that info hash.
 */
import net, { type Server, type Socket } from 'node:net';

/** pstrlen (1) + "BitTorrent protocol" (19) + reserved (8) + info hash (20): BEP 3. */
const HEAD_LENGTH = 48;
const PSTR = Buffer.from('\x13BitTorrent protocol', 'latin1');

/** Hands a socket whose handshake names `infoHash` to its torrent, or returns false. */
export type PeerRoute = (infoHash: Buffer, socket: Socket, head: Buffer) => boolean;

/** Options of the shared listener. */
export interface PeerListenerOptions {
  readonly host: string;
  /** 0 = ephemeral. */
  readonly port: number;
  readonly route: PeerRoute;
  /** The handshake's first 48 bytes must arrive within this, ms. */
  readonly handshakeTimeoutMs?: number;
  /** Connections still waiting for their handshake, at most (more are closed). */
  readonly maxPending?: number;
  /** Called for every connection closed before reaching a torrent (for logs/metrics). */
  readonly onReject?: (
    reason: 'pending_limit' | 'timeout' | 'not_bittorrent' | 'unknown_torrent',
  ) => void;
}

/** The shared peer-wire listener. */
export class PeerListener {
  private server: Server | null = null;
  private readonly pending = new Set<Socket>();
  private boundPort = 0;

  constructor(private readonly o: PeerListenerOptions) {}

  /** The bound port (after `listen`). */
  get port(): number {
    return this.boundPort;
  }

  /** Binds; resolves with the bound port. */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      const srv = net.createServer({ noDelay: true }, (s) => this.accept(s));
      srv.once('error', reject);
      srv.listen(this.o.port, this.o.host, () => {
        srv.off('error', reject);
        srv.on('error', () => undefined); // accept errors (EMFILE) must not crash the agent
        const a = srv.address();
        this.boundPort = typeof a === 'object' && a ? a.port : this.o.port;
        this.server = srv;
        resolve(this.boundPort);
      });
    });
  }

  /** Stops accepting and closes connections still waiting for a handshake. */
  close(): void {
    this.server?.close();
    this.server = null;
    for (const s of this.pending) s.destroy();
    this.pending.clear();
  }

  private accept(socket: Socket): void {
    socket.on('error', () => undefined);
    if (this.pending.size >= (this.o.maxPending ?? 256)) {
      this.o.onReject?.('pending_limit');
      socket.destroy();
      return;
    }
    this.pending.add(socket);
    const chunks: Buffer[] = [];
    let got = 0;
    const done = (): void => {
      clearTimeout(timer);
      this.pending.delete(socket);
      socket.removeListener('data', onData);
    };
    const reject = (reason: 'timeout' | 'not_bittorrent' | 'unknown_torrent'): void => {
      done();
      this.o.onReject?.(reason);
      socket.destroy();
    };
    const timer = setTimeout(() => reject('timeout'), this.o.handshakeTimeoutMs ?? 10_000);
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      got += chunk.length;
      const head = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      const n = Math.min(head.length, PSTR.length);
      if (!head.subarray(0, n).equals(PSTR.subarray(0, n))) return reject('not_bittorrent');
      if (got < HEAD_LENGTH) return;
      done();
      // Synchronous hand-over: the session attaches its own 'data' listener before any
      // further chunk can be emitted, so nothing is lost.
      if (!this.o.route(Buffer.from(head.subarray(28, 48)), socket, head))
        reject('unknown_torrent');
    };
    socket.on('data', onData);
    socket.once('close', () => {
      if (this.pending.delete(socket)) clearTimeout(timer);
    });
  }
}
