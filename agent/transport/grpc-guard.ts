import type { Server } from '@grpc/grpc-js';
import {
  constants,
  type Http2SecureServer,
  type Http2Server,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import {
  InboundBudget,
  MessageMeter,
  type GrpcInboundLimits,
  type GrpcInboundRefusal,
  type InboundConnection,
} from './grpc-inbound.js';
import { sourceKey } from './port-listener.js';

/** What the guard asks of the agent. */
export interface GrpcGuardHooks {
  /** Whether a source address is trusted (--trusted-sources): its own pool. */
  readonly isTrusted: (source: string) => boolean;
  /** Every stream refused by the budget, with its reason and source. */
  readonly onRefuse: (reason: GrpcInboundRefusal, source: string) => void;
  /**
   * A strike against a source (security/abuse.ts): a stream it reset or abandoned
   * before its answer (`reset`), or one this guard refused (`refused`). The agent
   * expels a source that takes too many.
   */
  readonly strike: (source: string, kind: 'reset' | 'refused') => void;
  readonly clock?: () => number;
}

/** One stream being watched. */
interface Watched {
  readonly stream: ServerHttp2Stream;
  readonly conn: InboundConnection;
  readonly session: ServerHttp2Session;
  readonly meter: MessageMeter;
  readonly openedAt: number;
  /** This guard reset the stream (not the client). */
  refused: boolean;
}

/** How often unfinished messages are checked against their deadline, ms. */
const DEADLINE_SWEEP_MS = 1000;

/**
 * grpc-js has no public hook on its HTTP/2 sessions, so their servers are read
 * from its `http2Servers` field (the version is pinned in package.json;
 * test/hostile-grpc.test.ts fails if the field moves, since then nothing is bounded).
 */
export function http2ServersOf(server: Server): (Http2Server | Http2SecureServer)[] {
  const map = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(map instanceof Map)) {
    throw new Error(
      'grpc-js changed: Server.http2Servers is not a Map; the inbound guard needs it',
    );
  }
  return [...(map as Map<Http2Server | Http2SecureServer, unknown>).keys()];
}

/**
 * Binds InboundBudget to the gRPC server's HTTP/2 sessions: counts the bytes of
 * each stream's unfinished message as they arrive (beside grpc-js, which buffers
 * them), resets a stream with ENHANCE_YOUR_CALM (clients report
 * RESOURCE_EXHAUSTED) when a bound would be passed or its message is late, and
 * reports each such refusal, and each stream a client resets unanswered, as a
 * strike against its source.
 */
export class GrpcInboundGuard {
  readonly budget: InboundBudget;
  private readonly watched = new Set<Watched>();
  private readonly clock: () => number;
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly limits: GrpcInboundLimits,
    private readonly hooks: GrpcGuardHooks,
  ) {
    this.budget = new InboundBudget(limits);
    this.clock = hooks.clock ?? Date.now;
    this.timer = setInterval(() => this.sweep(), DEADLINE_SWEEP_MS);
    this.timer.unref();
  }

  /** Watches every session of these HTTP/2 servers (from `http2ServersOf`). */
  attach(servers: (Http2Server | Http2SecureServer)[]): void {
    for (const s of servers) s.on('session', (session) => this.onSession(session));
  }

  /** Stops the deadline sweep. */
  stop(): void {
    clearInterval(this.timer);
  }

  private onSession(session: ServerHttp2Session): void {
    const source = sourceKey(session.socket?.remoteAddress);
    const conn = this.budget.open(source, this.hooks.isTrusted(source));
    // Registered after Node's own listener, which hands the stream to grpc-js
    // first: grpc-js has attached its reader and paused the stream, so this
    // listener only watches the chunks grpc-js reads.
    session.on('stream', (stream: ServerHttp2Stream) => this.onStream(session, conn, stream));
    session.once('close', () => this.budget.close(conn));
  }

  private onStream(
    session: ServerHttp2Session,
    conn: InboundConnection,
    stream: ServerHttp2Stream,
  ): void {
    const w: Watched = {
      stream,
      conn,
      session,
      meter: new MessageMeter(),
      openedAt: this.clock(),
      refused: false,
    };
    if (stream.destroyed || stream.closed) {
      // HEADERS and RST_STREAM in one read: the stream was reset before anyone saw it.
      this.onClose(w);
      return;
    }
    this.watched.add(w);
    stream.on('data', (chunk: Buffer) => this.onData(w, chunk));
    stream.once('close', () => this.onClose(w));
  }

  private onData(w: Watched, chunk: Buffer): void {
    if (w.refused) return;
    const delta = w.meter.feed(chunk, this.clock());
    if (delta < 0) {
      this.budget.release(w.conn, -delta);
      return;
    }
    if (delta === 0) return;
    const reason = this.budget.charge(w.conn, delta);
    if (reason !== undefined) this.refuse(w, reason, w.meter.held - delta);
  }

  /** Resets `w`'s stream for `reason`, giving back the `charged` bytes it held. A strike. */
  private refuse(w: Watched, reason: GrpcInboundRefusal, charged: number): void {
    w.refused = true;
    this.budget.release(w.conn, charged);
    this.watched.delete(w);
    this.hooks.onRefuse(reason, w.conn.source);
    if (!w.stream.destroyed) w.stream.close(constants.NGHTTP2_ENHANCE_YOUR_CALM);
    this.hooks.strike(w.conn.source, 'refused');
  }

  private onClose(w: Watched): void {
    if (!w.refused) {
      this.budget.release(w.conn, w.meter.held);
      this.watched.delete(w);
    }
    // A stream closed before it was answered, not by this guard: the client reset
    // it (cheap for the client, not for the agent: CVE-2023-44487), or Node refused
    // it past the session's memory. A strike. Streams cut by their session's end (a
    // client gone, a shutdown) are not counted.
    const aborted = w.stream.aborted || w.stream.rstCode !== constants.NGHTTP2_NO_ERROR;
    if (w.refused || !aborted || w.session.destroyed || w.session.closed) return;
    this.hooks.strike(w.conn.source, 'reset');
  }

  /** Resets streams whose request did not start, or whose message did not finish, in time. */
  private sweep(): void {
    const now = this.clock();
    const deadline = this.limits.messageDeadlineMs;
    for (const w of [...this.watched]) {
      const m = w.meter;
      const since = m.held > 0 ? m.startedAt : m.completed === 0 ? w.openedAt : undefined;
      // undefined: a request already read, waiting for its answer (a Watch, a slow call).
      if (since !== undefined && now - since > deadline) this.refuse(w, 'message_deadline', m.held);
    }
  }
}
