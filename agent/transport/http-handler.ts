import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ConnectionHandler } from './port-listener.js';

/** Serves one HTTP path. */
export type HttpRoute = (req: IncomingMessage, res: ServerResponse) => void;

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
}

/** The answer to a connection over the cap: written raw, the parser never sees it. */
const BUSY_REPLY =
  'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';
/** Idle time allowed between keep-alive requests, ms. */
const KEEP_ALIVE_MS = 5000;

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

  constructor(private readonly options: HttpHandlerOptions) {
    this.maxConnections = options.maxConnections ?? 1024;
    this.maxUrlBytes = options.maxUrlBytes ?? 8192;
    this.server = createServer(
      {
        maxHeaderSize: options.maxHeaderBytes,
        requestTimeout: options.requestTimeoutMs,
        headersTimeout: options.requestTimeoutMs,
        // How often node checks those two timeouts; its default (30 s) would let a
        // slow request live far past them.
        connectionsCheckingInterval: Math.max(50, Math.min(1000, options.requestTimeoutMs / 4)),
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
  }

  /** Connections open now. */
  get connections(): number {
    return this.sockets.size;
  }

  /** The ConnectionHandler the port listener calls. */
  readonly handle: ConnectionHandler = (socket) => {
    if (this.sockets.size >= this.maxConnections) {
      // Read and drop what comes so the peer's FIN is seen; cut it if it never sends one.
      socket.resume();
      socket.setTimeout(1000, () => socket.destroy());
      socket.end(BUSY_REPLY);
      return;
    }
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    this.server.emit('connection', socket);
  };

  /** Closes every HTTP connection so shutdown is not held up by idle or slow clients. */
  close(): void {
    this.server.closeAllConnections();
    for (const s of this.sockets) s.destroy();
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
