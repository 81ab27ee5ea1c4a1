/**
 * The fast path of the agent's HTTP/1.1 endpoint: a connection whose requests are
 * simple GETs of a few registered paths (the tracker's /announce and /scrape) is
 * served straight from the socket — a strict head parser (http1-head.ts), the
 * route, one write per batch of replies (http1-reply.ts) — instead of node:http's
 * IncomingMessage/ServerResponse pair per request, which cost more than the
 * tracker's own work. At the first request that is not simple (another path, a
 * method other than GET, a body, Upgrade, Expect, HTTP/1.0, an odd byte, a head
 * too large), the connection is handed to node:http at that request boundary,
 * with the unread bytes put back, and stays there: every other behaviour is
 * node:http's, as before.
 *
 * The bounds node:http applies hold here too: an incomplete head older than the
 * request timeout gets node's 408 and the connection is closed; an idle
 * keep-alive connection is closed after the keep-alive time (+1 s, as node; checked
 * at the owner's interval, ≤ 1 s);
 * pipelined requests are answered in order, at most MAX_PIPELINED in progress
 * per connection (reading pauses beyond), and reading pauses while the peer does
 * not read its replies.
 */
import type { Socket } from 'node:net';
import { parseRequestHead, type HeadLimits, type SimpleRequest } from './http1-head.js';
import { HttpDate, serializeReply, type FastReply } from './http1-reply.js';

/** Serves one path of the fast path: the query (after `?`) and the peer's address. */
export type FastRoute = (query: string, remoteAddress: string) => FastReply | Promise<FastReply>;

/** What a fast connection needs from the HTTP handler that owns it. */
export interface FastHost {
  readonly routes: ReadonlyMap<string, FastRoute>;
  readonly limits: HeadLimits;
  /** Idle time allowed between keep-alive requests, ms (advertised as Keep-Alive: timeout). */
  readonly keepAliveMs: number;
  readonly date: HttpDate;
  /** Passes the connection, its unread bytes put back, to node:http. */
  handOver(socket: Socket, connection: FastConnection): void;
  /** Sees every finished request: route, status, seconds. */
  readonly onRequest?: (route: string, status: number, seconds: number) => void;
}

/** Requests read ahead of their replies on one connection (pipelining). */
export const MAX_PIPELINED = 16;
/** node:http adds this to the keep-alive time before it closes an idle socket. */
const KEEP_ALIVE_GRACE_MS = 1000;

/** node:http's replies to a request timeout and to an incomplete request at EOF. */
const REQUEST_TIMEOUT_REPLY = Buffer.from(
  'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n',
  'latin1',
);
const BAD_REQUEST_REPLY = Buffer.from(
  'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n',
  'latin1',
);

/** One request's reply, written once every earlier one has been. */
interface Slot {
  out: Buffer | undefined;
  /** Close the connection after this reply. */
  close: boolean;
}

/** A route that threw or rejected: a bug, not bad input. 500 and close, as the node path. */
function internalError(err: unknown): FastReply {
  const message = err instanceof Error ? err.message : String(err);
  const body = Buffer.from(`internal error: ${message.slice(0, 200)}\n`, 'utf8');
  return {
    status: 500,
    fields: [
      ['content-type', 'text/plain; charset=utf-8'],
      ['content-length', String(body.length)],
    ],
    body,
    close: true,
  };
}

/** One connection on the fast path (see the module comment). */
export class FastConnection {
  /** Unparsed bytes are buf[pos…]; undefined when there are none. */
  private buf: Buffer | undefined;
  private pos = 0;
  /** Replies in request order; written from the front as they become ready. */
  private readonly slots: Slot[] = [];
  private mode: 'fast' | 'handover' | 'closing' | 'done' = 'fast';
  /** When the incomplete head now buffered began to arrive (ms), for the request timeout. */
  private partialSince: number | undefined;
  /** Reading paused by MAX_PIPELINED or by the peer not reading its replies. */
  private paused = false;
  private waitingDrain = false;
  /** Last read or write (ms), for the keep-alive timeout. */
  private lastActive: number;
  private readonly remote: string;
  private readonly accepts: (path: string) => boolean;

  constructor(
    private readonly socket: Socket,
    private readonly host: FastHost,
  ) {
    this.remote = socket.remoteAddress ?? '';
    this.accepts = (path) => host.routes.has(path);
    this.lastActive = Date.now();
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    // Sockets arrive paused (the port listener's pauseOnConnect): read from now on.
    socket.resume();
    socket.once('close', () => {
      this.mode = 'done';
      this.buf = undefined;
      this.slots.length = 0;
    });
  }

  /**
   * The connection's timers, called periodically by the owner (one interval for
   * all connections rather than a socket timer re-armed on every read and write):
   * an incomplete head arriving for `requestTimeoutMs` or longer gets node's 408
   * and the connection is closed; a connection idle between requests for the
   * keep-alive time (+ node's 1 s grace) is closed.
   */
  checkTimers(now: number, requestTimeoutMs: number): void {
    if (this.mode !== 'fast') return;
    if (this.partialSince !== undefined) {
      if (now - this.partialSince < requestTimeoutMs) return;
      if (this.slots.length === 0 && this.socket.writable) {
        this.socket.write(REQUEST_TIMEOUT_REPLY);
      }
      this.socket.destroy();
      return;
    }
    // A reply being prepared will be written; an idle connection is closed.
    if (
      this.slots.length === 0 &&
      this.buf === undefined &&
      now - this.lastActive >= this.host.keepAliveMs + KEEP_ALIVE_GRACE_MS
    ) {
      this.socket.destroy();
    }
  }

  private readonly onData = (chunk: Buffer): void => {
    // Closing: what follows a `Connection: close` request is ignored.
    if (this.mode === 'closing' || this.mode === 'done') return;
    this.lastActive = Date.now();
    if (this.buf === undefined) this.buf = chunk;
    else this.buf = Buffer.concat([this.buf.subarray(this.pos), chunk]);
    this.pos = 0;
    // While handing over, bytes are kept for node:http (reading is paused by then).
    if (this.mode === 'fast') this.parse();
  };

  /** node:http answers a request cut short by the peer's FIN with a 400 (llhttp EOF error). */
  private readonly onEnd = (): void => {
    if (this.mode === 'fast' && this.buf !== undefined && this.slots.length === 0) {
      if (this.socket.writable) this.socket.write(BAD_REQUEST_REPLY);
      this.socket.destroy();
    }
  };

  private parse(): void {
    while (this.mode === 'fast' && !this.paused && this.buf !== undefined) {
      const buf = this.buf;
      if (this.pos >= buf.length) {
        this.buf = undefined;
        this.partialSince = undefined;
        return;
      }
      if (this.slots.length >= MAX_PIPELINED) {
        // Our wait, not the peer's: no request timeout while we do not read.
        this.partialSince = undefined;
        this.pauseReading();
        return;
      }
      const head = parseRequestHead(buf, this.pos, this.host.limits, this.accepts);
      if (head.kind === 'partial') {
        this.partialSince ??= Date.now();
        return;
      }
      if (head.kind === 'other') {
        this.startHandover();
        return;
      }
      this.pos = head.end;
      this.partialSince = undefined;
      this.serve(head);
    }
  }

  private serve(req: SimpleRequest): void {
    const slot: Slot = { out: undefined, close: !req.keepAlive };
    this.slots.push(slot);
    if (!req.keepAlive) {
      // RFC 9112 §9.6: nothing after a `Connection: close` request is read.
      this.mode = 'closing';
      this.buf = undefined;
      this.socket.pause();
    }
    const route = this.host.routes.get(req.path);
    const started = this.host.onRequest === undefined ? 0 : performance.now();
    let reply: FastReply | Promise<FastReply>;
    try {
      if (route === undefined) throw new Error(`no fast route for ${req.path}`);
      reply = route(req.query, this.remote);
    } catch (err) {
      reply = internalError(err);
    }
    if (reply instanceof Promise) {
      reply.then(
        (r) => this.settle(slot, req.path, r, started),
        (err: unknown) => this.settle(slot, req.path, internalError(err), started),
      );
    } else this.settle(slot, req.path, reply, started);
  }

  private settle(slot: Slot, path: string, reply: FastReply, started: number): void {
    if (this.mode === 'done') return;
    if (reply.close === true) slot.close = true;
    slot.out = serializeReply(
      reply,
      !slot.close,
      this.host.date.at(Date.now()),
      Math.floor(this.host.keepAliveMs / 1000),
    );
    this.host.onRequest?.(
      path,
      reply.status,
      started === 0 ? 0 : (performance.now() - started) / 1000,
    );
    this.flush();
  }

  /** Writes the ready replies at the front, in one write. */
  private flush(): void {
    let first: Buffer | undefined;
    let more: Buffer[] | undefined;
    let close = false;
    while (this.slots.length > 0) {
      const slot = this.slots[0];
      if (slot.out === undefined) break;
      this.slots.shift();
      if (first === undefined) first = slot.out;
      else (more ??= [first]).push(slot.out);
      if (slot.close) {
        close = true;
        this.slots.length = 0;
        break;
      }
    }
    if (first === undefined || this.socket.destroyed) return;
    const socket = this.socket;
    socket.write(more === undefined ? first : Buffer.concat(more));
    this.lastActive = Date.now();
    if (close) {
      this.mode = 'done';
      this.buf = undefined;
      // As node's destroySoon: FIN after the reply, then let go of the socket.
      socket.end();
      socket.once('finish', () => socket.destroy());
      return;
    }
    if (this.mode === 'handover') {
      if (this.slots.length === 0) this.finishHandover();
      return;
    }
    if (socket.writableNeedDrain && !this.waitingDrain) {
      this.waitingDrain = true;
      this.pauseReading();
      socket.once('drain', () => {
        this.waitingDrain = false;
        this.resumeReading();
      });
      return;
    }
    if (this.paused && this.slots.length < MAX_PIPELINED) this.resumeReading();
  }

  private pauseReading(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
  }

  private resumeReading(): void {
    if (!this.paused || this.waitingDrain || this.mode !== 'fast') return;
    this.paused = false;
    this.socket.resume();
    this.parse();
  }

  /** Stops serving; the connection goes to node:http once the replies before are written. */
  private startHandover(): void {
    this.mode = 'handover';
    this.partialSince = undefined;
    this.socket.pause();
    if (this.slots.length === 0) this.finishHandover();
  }

  private finishHandover(): void {
    this.mode = 'done';
    const socket = this.socket;
    socket.removeListener('data', this.onData);
    socket.removeListener('end', this.onEnd);
    const buf = this.buf;
    this.buf = undefined;
    if (buf !== undefined && this.pos < buf.length) socket.unshift(buf.subarray(this.pos));
    this.host.handOver(socket, this);
  }
}
