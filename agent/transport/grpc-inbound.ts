/**
 * What a remote may make the gRPC server hold before a call runs (pure: no
 * sockets, no clock of its own). grpc-js buffers a request message until its
 * last byte arrives, whatever HTTP/2 flow control says, so the bytes of
 * unfinished messages are bounded here per connection, per source and per
 * agent. grpc-guard.ts binds this to the HTTP/2 sessions, and reports streams
 * reset by clients (HTTP/2 rapid reset, CVE-2023-44487) as strikes against
 * their source (security/abuse.ts). docs/security.md §9 gives each bound's reason.
 */

/** Bounds of inbound gRPC traffic; DEFAULT_GRPC_INBOUND_LIMITS has every value. */
export interface GrpcInboundLimits {
  /** Bytes of unfinished request messages one connection may have buffered. */
  readonly maxUnfinishedBytesPerConnection: number;
  /** The same, over all connections of one untrusted source address. */
  readonly maxUnfinishedBytesPerSource: number;
  /** The same, over every untrusted source together. */
  readonly maxUnfinishedBytesUntrusted: number;
  /** The same, over every trusted source (--trusted-sources) together: their own pool. */
  readonly maxUnfinishedBytesTrusted: number;
  /**
   * A stream must start its request within this time of opening, and every
   * message must complete within this time of its first byte, ms.
   */
  readonly messageDeadlineMs: number;
}

const MiB = 1024 * 1024;

/**
 * Defaults. A connection may buffer four of the largest (4 MiB) messages at once
 * — more than an agent's gossip channel ever has in flight — and a source eight,
 * so one member's channel and a btctl never collide; one outside host then holds
 * at most 32 MiB however many streams and connections it opens. All untrusted
 * sources together hold at most 256 MiB, trusted ones (loopback) have their own
 * 256 MiB. 30 s lets a 4 MiB message cross a 1 Mbit/s link; a request that has
 * not finished by then is an attack or a dead client.
 */
export const DEFAULT_GRPC_INBOUND_LIMITS: GrpcInboundLimits = Object.freeze({
  maxUnfinishedBytesPerConnection: 16 * MiB,
  maxUnfinishedBytesPerSource: 32 * MiB,
  maxUnfinishedBytesUntrusted: 256 * MiB,
  maxUnfinishedBytesTrusted: 256 * MiB,
  messageDeadlineMs: 30_000,
});

/** Why a stream was refused (counted as `grpc_inbound.<reason>`). */
export const GRPC_INBOUND_REFUSALS = [
  'connection_budget',
  'source_budget',
  'agent_budget',
  'message_deadline',
] as const;
export type GrpcInboundRefusal = (typeof GRPC_INBOUND_REFUSALS)[number];

/** What one source holds: its connections and their unfinished bytes. */
interface SourceAccount {
  connections: number;
  held: number;
}

/** One connection's share of the budget. */
export interface InboundConnection {
  readonly source: string;
  readonly trusted: boolean;
  /** Unfinished bytes buffered on this connection now. */
  held: number;
}

/**
 * Bytes of unfinished messages, accounted per connection, per source and per pool
 * (trusted / untrusted). `charge` refuses past any bound and changes nothing
 * then. A source is known while it has a connection open, so the table is
 * bounded by the port's connections.
 */
export class InboundBudget {
  private readonly sources = new Map<string, SourceAccount>();
  private untrusted = 0;
  private trusted = 0;

  constructor(readonly limits: GrpcInboundLimits) {}

  /** A new connection's account. Call `close` once when it closes. */
  open(source: string, trusted: boolean): InboundConnection {
    let a = this.sources.get(source);
    if (a === undefined) {
      a = { connections: 0, held: 0 };
      this.sources.set(source, a);
    }
    a.connections++;
    return { source, trusted, held: 0 };
  }

  /** Forgets a connection (giving back what it still held). */
  close(c: InboundConnection): void {
    this.release(c, c.held);
    const a = this.sources.get(c.source);
    if (a === undefined) return;
    if (--a.connections <= 0) this.sources.delete(c.source);
  }

  /** Takes `bytes` more for `c`; the reason when a bound would be passed (nothing taken). */
  charge(c: InboundConnection, bytes: number): GrpcInboundRefusal | undefined {
    const l = this.limits;
    if (c.held + bytes > l.maxUnfinishedBytesPerConnection) return 'connection_budget';
    const a = this.sources.get(c.source);
    if (c.trusted) {
      if (this.trusted + bytes > l.maxUnfinishedBytesTrusted) return 'agent_budget';
      this.trusted += bytes;
    } else {
      if ((a?.held ?? 0) + bytes > l.maxUnfinishedBytesPerSource) return 'source_budget';
      if (this.untrusted + bytes > l.maxUnfinishedBytesUntrusted) return 'agent_budget';
      this.untrusted += bytes;
    }
    if (a !== undefined) a.held += bytes;
    c.held += bytes;
    return undefined;
  }

  /** Gives back `bytes` that `c` was charged (a message completed or its stream closed). */
  release(c: InboundConnection, bytes: number): void {
    const n = Math.min(bytes, c.held);
    if (n <= 0) return;
    c.held -= n;
    if (c.trusted) this.trusted -= n;
    else this.untrusted -= n;
    const a = this.sources.get(c.source);
    if (a !== undefined) a.held -= n;
  }

  /** Unfinished bytes held now by untrusted and trusted sources, and how many sources are known. */
  get held(): { untrusted: number; trusted: number; sources: number } {
    return { untrusted: this.untrusted, trusted: this.trusted, sources: this.sources.size };
  }

  /** Unfinished bytes `source` holds now. */
  heldBy(source: string): number {
    return this.sources.get(source)?.held ?? 0;
  }
}

/**
 * Follows gRPC's length-prefixed framing on one stream without buffering it
 * (gRPC over HTTP/2: a 1-byte compressed flag, a 4-byte big-endian length, the
 * message). `feed` says how the bytes of the unfinished message changed.
 */
export class MessageMeter {
  /** Bytes of the 5-byte prefix read so far. */
  private prefixRead = 0;
  private length = 0;
  /** Bytes of the message body still to come (when the prefix is complete). */
  private remaining = 0;
  private inBody = false;
  /** Bytes of the current, unfinished message received so far (prefix included). */
  held = 0;
  /** Messages completed on this stream. */
  completed = 0;
  /** When the current message's first byte arrived (ms); 0 when none is unfinished. */
  startedAt = 0;

  /** Reads a chunk; returns the change of `held` (positive: more is buffered). */
  feed(chunk: Uint8Array, now: number): number {
    const before = this.held;
    let i = 0;
    while (i < chunk.length) {
      if (this.inBody) {
        const take = Math.min(this.remaining, chunk.length - i);
        i += take;
        this.remaining -= take;
        this.held += take;
        if (this.remaining === 0) this.finish();
        continue;
      }
      if (this.prefixRead === 0) {
        this.startedAt = now;
        this.length = 0;
      }
      // Bytes 1-4 of the prefix are the length; byte 0 the compressed flag.
      if (this.prefixRead >= 1) this.length = this.length * 256 + chunk[i];
      this.prefixRead++;
      this.held++;
      i++;
      if (this.prefixRead === 5) {
        this.prefixRead = 0;
        this.remaining = this.length;
        if (this.remaining === 0) this.finish();
        else this.inBody = true;
      }
    }
    return this.held - before;
  }

  private finish(): void {
    this.inBody = false;
    this.held = 0;
    this.startedAt = 0;
    this.completed++;
  }
}
