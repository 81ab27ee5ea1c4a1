import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { FastConnection, type FastHost, type FastRoute } from './http-fast.js';
import { HttpDate } from './http1-reply.js';
import type { ConnectionHandler } from './port-listener.js';

/**
 * Serves one HTTP path through node:http. A route may also carry `fast`: the same
 * answers for simple GETs, served on the fast path (http-fast.ts) without node:http.
 */
export type HttpRoute = ((req: IncomingMessage, res: ServerResponse) => void) & {
  readonly fast?: FastRoute;
};

/** Bounds of the HTTP/1.1 endpoint. */
export interface HttpHandlerOptions {
  /** Whole request (headers included) must arrive within this time, ms. */
  readonly requestTimeoutMs: number;
  /** Largest request header block, bytes. */
  readonly maxHeaderBytes: number;
  /** Simultaneous HTTP connections; past it a connection gets a 503 and is closed. Default 1024. */
  readonly maxConnections?: number;
  /** Longest request target (path and query), bytes; past it 414. Default 8 KiB. */
  readonly maxUrlBytes?: number;
  /** Request headers parsed; the rest are dropped. Default 64. */
  readonly maxHeadersCount?: number;
  /** Sees every finished request: its route (a registered path, or "other"), status, seconds. */
  readonly onRequest?: (route: string, status: number, seconds: number) => void;
  /**
   * Trusted sources (--trusted-sources): only they may take the last
   * `reservedForTrusted` connections, so outsiders holding the rest cannot lock
   * the operator's /metrics and local tracker clients out.
   */
  readonly trusted?: (ip: string | undefined) => boolean;
  /** Connections kept for trusted sources. Default DEFAULT_HTTP_TRUSTED_RESERVE. */
  readonly reservedForTrusted?: number;
  /** Called for every connection answered 503 because the endpoint was full. */
  readonly onBusy?: () => void;
}

/**
 * Connections only trusted sources may take: a Prometheus, a few local tracker
 * clients and btctl need far fewer than 64, and 64 of the default 1 024 leaves
 * outsiders 960.
 */
export const DEFAULT_HTTP_TRUSTED_RESERVE = 64;

/** The answer to a connection over the cap: written raw, the parser never sees it. */
const BUSY_REPLY =
  'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';
/** Idle time allowed between keep-alive requests, ms. */
const KEEP_ALIVE_MS = 5000;
/**
 * Heads the fast path parses itself, bytes: well under both the 8 KiB target
 * limit (414) and the header limit (431), so every request near a limit meets
 * node:http's checks exactly as before.
 */
const FAST_MAX_HEAD_BYTES = 4096;

/**
 * The HTTP/1.1 side of the agent's port: a node:http server that never listens
 * itself but is handed sniffed connections. The router is a plain table of exact
 * paths (query strings are ignored for routing): /metrics, the tracker's
 * /announce and /scrape; anything else is 404. No route takes a request body.
 */
export class HttpHandler {
  private readonly routes = new Map<string, HttpRoute>();
  private readonly server;
  private readonly sockets = new Set<Socket>();
  private readonly maxConnections: number;
  private readonly maxUrlBytes: number;
  private readonly fastRoutes = new Map<string, FastRoute>();
  private readonly fastConnections = new Set<FastConnection>();
  private readonly fastHost: FastHost;
  private readonly checkIntervalMs: number;
  private fastChecker: NodeJS.Timeout | undefined;

  constructor(private readonly options: HttpHandlerOptions) {
    this.maxConnections = options.maxConnections ?? 1024;
    this.maxUrlBytes = options.maxUrlBytes ?? 8192;
    this.checkIntervalMs = Math.max(50, Math.min(1000, options.requestTimeoutMs / 4));
    this.fastHost = {
      routes: this.fastRoutes,
      limits: {
        maxHeadBytes: Math.min(FAST_MAX_HEAD_BYTES, this.maxUrlBytes, options.maxHeaderBytes),
        maxHeaders: options.maxHeadersCount ?? 64,
      },
      keepAliveMs: KEEP_ALIVE_MS,
      date: new HttpDate(),
      onRequest: options.onRequest,
      handOver: (socket, connection) => {
        this.fastConnections.delete(connection);
        this.server.emit('connection', socket);
        // node:http reads through its own listeners; the socket was paused for the hand-over.
        socket.resume();
      },
    };
    this.server = createServer(
      {
        maxHeaderSize: options.maxHeaderBytes,
        requestTimeout: options.requestTimeoutMs,
        headersTimeout: options.requestTimeoutMs,
        // How often node checks those two timeouts; its default (30 s) would let a
        // slow request live far past them.
        connectionsCheckingInterval: this.checkIntervalMs,
      },
      (req, res) => this.dispatch(req, res),
    );
    this.server.keepAliveTimeout = KEEP_ALIVE_MS;
    this.server.maxHeadersCount = options.maxHeadersCount ?? 64;
    // node:http arms its request/headers timeout checks (and the connection list
    // closeAllConnections uses) on 'listening'. This server is fed sockets by the
    // port listener and never listens itself, so it is told once here.
    this.server.emit('listening');
  }

  /** Registers a handler for an exact path (query strings are ignored for routing). */
  route(path: string, handler: HttpRoute): void {
    this.routes.set(path, handler);
    if (handler.fast !== undefined) this.fastRoutes.set(path, handler.fast);
    else this.fastRoutes.delete(path);
  }

  /** Connections open now. */
  get connections(): number {
    return this.sockets.size;
  }

  /** The ConnectionHandler the port listener calls. */
  readonly handle: ConnectionHandler = (socket) => {
    const trusted = this.options.trusted?.(socket.remoteAddress) ?? false;
    const reserve = Math.min(
      this.options.reservedForTrusted ?? DEFAULT_HTTP_TRUSTED_RESERVE,
      this.maxConnections - 1,
    );
    const cap =
      trusted || this.options.trusted === undefined
        ? this.maxConnections
        : this.maxConnections - reserve;
    if (this.sockets.size >= cap) {
      this.options.onBusy?.();
      // Read and drop what comes so the peer's FIN is seen; cut it if it never sends one.
      socket.resume();
      socket.setTimeout(1000, () => socket.destroy());
      socket.end(BUSY_REPLY);
      return;
    }
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    if (this.fastRoutes.size === 0) {
      this.server.emit('connection', socket);
      return;
    }
    const connection = new FastConnection(socket, this.fastHost);
    this.fastConnections.add(connection);
    socket.once('close', () => this.fastConnections.delete(connection));
    this.fastChecker ??= setInterval(() => this.checkFast(), this.checkIntervalMs).unref();
  };

  /** Closes every HTTP connection so shutdown is not held up by idle or slow clients. */
  close(): void {
    if (this.fastChecker !== undefined) clearInterval(this.fastChecker);
    this.fastChecker = undefined;
    this.server.closeAllConnections();
    for (const s of this.sockets) s.destroy();
  }

  /** node:http's request and keep-alive timeouts, for connections on the fast path. */
  private checkFast(): void {
    const now = Date.now();
    for (const c of this.fastConnections) c.checkTimers(now, this.options.requestTimeoutMs);
  }

  private dispatch(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const handler = this.routes.get(path);
    const onRequest = this.options.onRequest;
    if (onRequest !== undefined) {
      const started = process.hrtime.bigint();
      // The route, not the raw path, is the label: unknown paths must not grow it.
      const route = handler === undefined ? 'other' : path;
      res.once('finish', () =>
        onRequest(route, res.statusCode, Number(process.hrtime.bigint() - started) / 1e9),
      );
    }
    if (url.length > this.maxUrlBytes) {
      this.refuse(res, 414, `request target longer than ${this.maxUrlBytes} bytes`);
      return;
    }
    const length = req.headers['content-length'];
    if (
      (length !== undefined && length !== '0') ||
      req.headers['transfer-encoding'] !== undefined
    ) {
      this.refuse(res, 413, 'no request body is accepted');
      return;
    }
    if (handler === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`not found: ${path.slice(0, 200)}\n`);
      return;
    }
    handler(req, res);
  }

  /** A plain-text error that also closes the connection (what follows cannot be trusted). */
  private refuse(res: ServerResponse, status: number, message: string): void {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
    res.end(`${message}\n`);
  }
}
