import { lookup } from 'node:dns/promises';
import { connect, isIP } from 'node:net';
import type { Logger } from 'pino';
import type { Replica } from '../replica.js';
import type { InfoHashKey } from '../store/infohash.js';
import { encodeGossip, encodeLegacyProvider, formatLegacyInfoHash } from './codec.js';
import { legacyOrigin } from './handler.js';

/** Timing and bounds of the outbound legacy gossip. */
export interface LegacyGossiperOptions {
  /** Legacy nodes ("host:port") to gossip to. */
  readonly peers: readonly string[];
  /** How often every info hash is sent to every legacy peer, ms (Go nodes: 8 s). */
  readonly intervalMs: number;
  /** Connect timeout, ms (Go nodes push with 1.2 s). */
  readonly dialTimeoutMs: number;
  /** Longest one connection may stay open after connecting, ms. */
  readonly ioTimeoutMs: number;
  /** Providers per message. */
  readonly maxProviders: number;
  /** Largest message line, bytes. */
  readonly maxLineBytes: number;
  /** Connections open at once per legacy peer. */
  readonly concurrency: number;
}

/** What the gossiper has done; read by status and (later) metrics. */
export interface LegacyGossipCounters {
  /** Rounds started per peer. */
  rounds: number;
  /** Messages delivered (connection closed cleanly after the write). */
  sent: number;
  /** Connections that failed (dial timeout, refused, reset); the round for that peer stops. */
  failed: number;
  /** Rounds skipped because the previous one to that peer was still running. */
  skippedBusy: number;
}

/** Thrown when one send fails; ends the current round for that peer. */
class LegacySendError extends Error {
  override name = 'LegacySendError';
}

/**
 * The outbound side of the legacy protocol: every `intervalMs`, for each legacy
 * peer and each info hash held, one connection carrying
 * `{"type":"gossip","info_hash":"%XX…","providers":[…]}` — the form Go nodes gossip
 * in — so that Go nodes see the agents' records. Records learned from that same
 * peer (origin `legacy:<its ip>`) are not sent back to it, tombstones never are
 * (the legacy protocol cannot remove), and a dead peer only costs one failed dial
 * per round: its round stops at the first failure and never blocks other peers.
 */
export class LegacyGossiper {
  readonly counters: LegacyGossipCounters = { rounds: 0, sent: 0, failed: 0, skippedBusy: 0 };
  private readonly busy = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly replica: Replica,
    private readonly options: LegacyGossiperOptions,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.options.peers.length === 0) return;
    this.timer = setInterval(() => this.round(), this.options.intervalMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
  }

  /** Starts one round to every peer not still busy with the previous one. */
  round(): void {
    for (const peer of this.options.peers) {
      if (this.busy.has(peer)) {
        this.counters.skippedBusy++;
        continue;
      }
      this.busy.add(peer);
      this.counters.rounds++;
      this.gossipTo(peer)
        .catch((err: unknown) => {
          if (!(err instanceof LegacySendError)) throw err;
          this.log.debug({ peer, err: err.message }, 'legacy gossip round stopped');
        })
        .catch((err: unknown) => this.log.error({ peer, err }, 'legacy gossip round failed'))
        .finally(() => this.busy.delete(peer));
    }
  }

  /** Sends every info hash to one peer, `concurrency` connections at a time. */
  private async gossipTo(peer: string): Promise<void> {
    const colon = peer.lastIndexOf(':');
    const host = peer.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
    const port = Number(peer.slice(colon + 1));
    const excluded = new Set<string>();
    try {
      const ips = isIP(host) !== 0 ? [{ address: host }] : await lookup(host, { all: true });
      for (const { address } of ips) excluded.add(legacyOrigin(address));
    } catch {
      throw new LegacySendError(`cannot resolve ${host}`);
    }
    // One shared iterator: workers take the next info hash as they free up. A Map
    // iterator tolerates the Store adding and deleting keys meanwhile.
    const keys = this.replica.store.keys();
    const worker = async (): Promise<void> => {
      for (;;) {
        if (this.stopped) return;
        const next = keys.next();
        if (next.done === true) return;
        for (const line of this.messages(next.value, excluded)) {
          await this.send(host, port, line);
        }
      }
    };
    await Promise.all(Array.from({ length: this.options.concurrency }, worker));
  }

  /** The gossip lines for one info hash: live, non-removed records, split by the bounds. */
  private messages(key: InfoHashKey, excluded: ReadonlySet<string>): string[] {
    const pct = formatLegacyInfoHash(key);
    if (pct === undefined) return [];
    const budget = this.options.maxLineBytes - 200; // envelope and newline
    const lines: string[] = [];
    let batch: string[] = [];
    let bytes = 0;
    for (const r of this.replica.store.records(key, this.replica.now())) {
      if (r.removed || excluded.has(r.origin)) continue;
      const encoded = encodeLegacyProvider(r);
      if (batch.length >= this.options.maxProviders || bytes + encoded.length + 1 > budget) {
        lines.push(encodeGossip(pct, batch));
        batch = [];
        bytes = 0;
      }
      batch.push(encoded);
      bytes += Buffer.byteLength(encoded) + 1;
    }
    if (batch.length > 0) lines.push(encodeGossip(pct, batch));
    return lines;
  }

  /** One connection: connect (bounded), write the line, close, wait for the close. */
  private send(host: string, port: number, line: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port, noDelay: true });
      const dialStarted = Date.now();
      let timer = setTimeout(() => {
        // The measured time goes into the (debug) log: an operator can see the bound hold.
        socket.destroy(new LegacySendError(`dial timeout after ${Date.now() - dialStarted} ms`));
      }, this.options.dialTimeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        timer = setTimeout(
          () => socket.destroy(new LegacySendError('io timeout')),
          this.options.ioTimeoutMs,
        );
        socket.end(line);
      });
      // A Go node sends nothing back to a gossip; drain whatever comes so close is clean.
      socket.resume();
      socket.once('error', (err) => {
        this.counters.failed++;
        clearTimeout(timer);
        reject(err instanceof LegacySendError ? err : new LegacySendError(err.message));
      });
      socket.once('close', (hadError) => {
        clearTimeout(timer);
        if (!hadError) {
          this.counters.sent++;
          resolve();
        }
      });
    });
  }
}
