import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { ConnectionHandler } from './port-listener.js';

/** Serves one HTTP path. */
export type HttpRoute = (req: IncomingMessage, res: ServerResponse) => void;

/** Bounds of the HTTP/1.1 endpoint. */
export interface HttpHandlerOptions {
  /** Whole request (headers included) must arrive within this time, ms. */
  readonly requestTimeoutMs: number;
  /** Largest request header block, bytes. */
  readonly maxHeaderBytes: number;
  /** Sees every finished request: its route (a registered path, or "other"), status, seconds. */
  readonly onRequest?: (route: string, status: number, seconds: number) => void;
}

/**
 * The HTTP/1.1 side of the agent's port: a node:http server that never listens
 * itself but is handed sniffed connections. Routes are added by later parts
 * (/metrics, the tracker's /announce and /scrape); anything else is 404.
 */
export class HttpHandler {
  private readonly routes = new Map<string, HttpRoute>();
  private readonly server;

  constructor(private readonly options: HttpHandlerOptions) {
    this.server = createServer(
      {
        maxHeaderSize: options.maxHeaderBytes,
        requestTimeout: options.requestTimeoutMs,
        headersTimeout: options.requestTimeoutMs,
      },
      (req, res) => this.dispatch(req, res),
    );
    this.server.keepAliveTimeout = 5000;
  }

  /** Registers a handler for an exact path (query strings are ignored for routing). */
  route(path: string, handler: HttpRoute): void {
    this.routes.set(path, handler);
  }

  /** The ConnectionHandler the port listener calls. */
  readonly handle: ConnectionHandler = (socket) => {
    this.server.emit('connection', socket);
  };

  /** Stops keep-alive connections so shutdown is not held up by idle clients. */
  close(): void {
    this.server.closeAllConnections();
  }

  private dispatch(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
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
    if (handler === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`not found: ${path}\n`);
      return;
    }
    handler(req, res);
  }
}
