import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Replica } from '../replica.js';
import type { MergeOutcome } from '../store/store.js';
import {
  decodeLegacyMessage,
  encodeLookupReply,
  FrameScanner,
  legacyToRecord,
  type LegacyMessage,
} from './codec.js';
import { LEGACY_REJECT_REASONS, LegacyProtocolError, type LegacyRejectReason } from './errors.js';

/** How the agent treats the legacy protocol. */
export type LegacyMode = 'off' | 'read-only' | 'read-write';
export const LEGACY_MODES: readonly LegacyMode[] = ['off', 'read-only', 'read-write'];

/** Bounds of the inbound legacy handler. */
export interface LegacyHandlerOptions {
  /** read-only answers lookups and ignores announces and gossip. */
  readonly mode: Exclude<LegacyMode, 'off'>;
  /** Largest request (one JSON value), bytes. */
  readonly maxLineBytes: number;
  /** A request must be complete within this time, and a reply drained within it again, ms. */
  readonly readTimeoutMs: number;
  /** Simultaneous legacy connections; more are closed at once. */
  readonly maxConnections: number;
  /** Providers per message, accepted or replied. */
  readonly maxProviders: number;
  /**
   * Verifies an `announce`'s addr against the sender's address
   * (security/announce-addr.ts); false drops that provider (the guard counts it).
   * Gossip is not checked: it relays other hosts' records by design.
   */
  readonly checkAnnounce?: (ip: string | undefined, addr: string) => boolean;
  /**
   * Whether gossip/announce from `ip` is applied (--legacy-peers, --legacy-sources);
   * false drops the message, counted as `not_legacy_source`. Lookups are always answered.
   */
  readonly allowWrite?: (ip: string | undefined, type: 'gossip' | 'announce') => boolean;
}

/** What the handler has done, by outcome; read by status and (later) metrics. */
export interface LegacyCounters {
  /** Messages handled, by type. */
  readonly handled: { gossip: number; announce: number; lookup: number };
  /** Connections closed without a reply (or messages ignored), by reason. */
  readonly rejected: Record<LegacyRejectReason, number>;
  /** Records merged into the Store, by outcome (applied, unchanged, or the Store's refusal). */
  readonly merged: Record<MergeOutcome, number>;
  /** Far-future last_seen values clamped to now. */
  clamped: number;
  /** Legacy connections open now. */
  open: number;
}

/**
 * The origin of records learned over the legacy protocol from `ip` (an
 * IPv4-mapped IPv6 address counts as its IPv4 address, so both sides agree).
 */
export function legacyOrigin(ip: string | undefined): string {
  const plain = ip === undefined ? 'unknown' : ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  return `legacy:${plain}`;
}

/**
 * The inbound side of the legacy JSON overlay protocol on the agent's port: one
 * JSON object per connection (gossip, announce or lookup), lookups answered with
 * one JSON array and a newline, the connection closed after. Records are marked
 * with the origin `legacy:<sender ip>` so the outbound gossiper does not echo them
 * back to the node they came from.
 */
export class LegacyHandler {
  readonly counters: LegacyCounters = {
    handled: { gossip: 0, announce: 0, lookup: 0 },
    rejected: Object.fromEntries(LEGACY_REJECT_REASONS.map((r) => [r, 0])) as Record<
      LegacyRejectReason,
      number
    >,
    merged: {
      applied: 0,
      unchanged: 0,
      expired: 0,
      provider_limit: 0,
      info_hash_limit: 0,
      record_limit: 0,
    },
    clamped: 0,
    open: 0,
  };
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly replica: Replica,
    private readonly options: LegacyHandlerOptions,
    private readonly log: Logger,
  ) {}

  /** The ConnectionHandler for the port listener (first bytes already put back). */
  readonly handle = (socket: Socket): void => {
    if (this.sockets.size >= this.options.maxConnections) {
      this.reject(socket, 'too_many_connections', 'legacy connection cap reached');
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    this.counters.open = this.sockets.size;
    const scanner = new FrameScanner();
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const timer = setTimeout(() => {
      if (!done) this.reject(socket, 'read_timeout', 'no complete message in time');
      socket.destroy();
    }, this.options.readTimeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      this.sockets.delete(socket);
      this.counters.open = this.sockets.size;
    });
    const finish = (): void => {
      done = true;
      socket.off('data', onData);
      socket.off('end', onEnd);
    };
    const onData = (chunk: Buffer): void => {
      let end: number;
      try {
        end = scanner.push(chunk);
      } catch (err) {
        finish();
        this.fail(socket, err);
        return;
      }
      const take = end < 0 ? chunk.length : end;
      if (size + take > this.options.maxLineBytes) {
        finish();
        this.reject(socket, 'line_too_long', `over ${this.options.maxLineBytes} bytes`);
        socket.destroy();
        return;
      }
      chunks.push(end < 0 ? chunk : chunk.subarray(0, end));
      size += take;
      if (end < 0) return;
      finish();
      // Bytes after the value are ignored (as Go's decoder does); keep reading and
      // discarding them so that closing sends FIN, not a RST that could destroy
      // the reply before the client reads it.
      socket.resume();
      const text = (chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)).toString('utf8');
      let reply: string | undefined;
      try {
        reply = this.process(decodeLegacyMessage(text, this.options), socket.remoteAddress);
      } catch (err) {
        this.fail(socket, err);
        return;
      }
      // The timer now bounds draining the reply: a client that does not read is cut.
      timer.refresh();
      if (reply === undefined) socket.end();
      else socket.end(reply);
    };
    const onEnd = (): void => {
      finish();
      this.reject(socket, 'truncated', 'closed before a complete message');
      socket.destroy();
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
  };

  /** Closes every legacy connection (shutdown) and logs what the handler did. */
  destroyAll(): void {
    for (const s of this.sockets) s.destroy();
    this.log.info({ legacy: this.counters }, 'legacy counters');
  }

  /** Applies one decoded message; returns the reply line of a lookup. */
  private process(msg: LegacyMessage, ip: string | undefined): string | undefined {
    this.counters.handled[msg.type]++;
    if (msg.type === 'lookup') {
      const limit =
        msg.limit > 0 ? Math.min(msg.limit, this.options.maxProviders) : this.options.maxProviders;
      return encodeLookupReply(this.replica.lookup(msg.infoHash!, limit));
    }
    if (this.options.mode === 'read-only') {
      this.counters.rejected.read_only++;
      return undefined;
    }
    if (this.options.allowWrite?.(ip, msg.type) === false) {
      this.counters.rejected.not_legacy_source++;
      if (this.log.isLevelEnabled('debug')) {
        this.log.debug({ remote: ip, type: msg.type }, 'legacy write refused: not a legacy source');
      }
      return undefined;
    }
    if (msg.infoHash === undefined || msg.providers.length === 0) return undefined;
    const nowMs = this.replica.now();
    const opts = {
      nowMs,
      maxSkewMs: this.replica.store.options.maxSkewMs,
      origin: legacyOrigin(ip),
    };
    for (const p of msg.providers) {
      if (msg.type === 'announce' && this.options.checkAnnounce?.(ip, p.addr) === false) continue;
      const { record, clamped } = legacyToRecord(p, msg.type, opts);
      if (clamped) this.counters.clamped++;
      this.counters.merged[this.replica.mergeLegacy(msg.infoHash, record, opts.origin)]++;
    }
    return undefined;
  }

  private fail(socket: Socket, err: unknown): void {
    if (!(err instanceof LegacyProtocolError)) {
      // A bug, not bad input: keep the agent up, drop this connection, say so loudly.
      this.log.error({ err, remote: socket.remoteAddress }, 'legacy handler failed');
      socket.destroy();
      return;
    }
    this.reject(socket, err.reason, err.message);
    // Discard anything still arriving and close cleanly, without a reply.
    socket.resume();
    socket.end();
  }

  private reject(socket: Socket, reason: LegacyRejectReason, detail: string): void {
    this.counters.rejected[reason]++;
    if (this.log.isLevelEnabled('debug')) {
      this.log.debug({ reason, remote: socket.remoteAddress, detail }, 'legacy message rejected');
    }
  }
}
