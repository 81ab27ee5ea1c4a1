import { lookup } from 'node:dns/promises';
import type { Logger } from 'pino';
import type { ClusterMessage } from '../../generated/btoverlay/v1/cluster.js';
import { InvalidArgumentError } from '../errors.js';
import {
  ClusterPeer,
  type ClusterPeerSecurity,
  type ClusterTrafficObserver,
} from '../transport/cluster-client.js';
import {
  envelopeFromWire,
  envelopeToWire,
  type ClusterLimits,
  type MemberUpdateDrop,
} from '../transport/cluster-convert.js';
import { DatagramTransport } from '../transport/cluster-datagram.js';
import type { Envelope, Outbound } from './messages.js';
import type { GossipNode } from './node.js';

/** I/O settings of the gossip driver. */
export interface GossipDriverOptions {
  /** An Exchange call is cancelled after this long, ms. */
  readonly rpcTimeoutMs: number;
  /** Largest gRPC message, bytes. */
  readonly maxMessageBytes: number;
  /** Open channels to other agents kept; the oldest is closed past it. */
  readonly maxPeers: number;
  /** `dns:NAME:PORT` bootstrap entries are re-resolved this often, ms. */
  readonly resolveIntervalMs: number;
  /** How long a graceful leave waits for `left` to be delivered, ms. */
  readonly leaveWaitMs: number;
  /** Bounds on incoming messages. */
  readonly limits: ClusterLimits;
  /** Sees outbound calls' messages and their replies (metrics); optional. */
  readonly observe?: ClusterTrafficObserver;
  /** Cluster key and TLS for outbound calls (agent/security/); optional. */
  readonly peerSecurity?: ClusterPeerSecurity;
  /**
   * "host:port" to bind a UDP socket for probes (ping, ack, ping-req), or
   * undefined for probes over gRPC. Ignored with TLS (datagrams would bypass it).
   */
  readonly datagramBind?: string;
  /** Called for every member update dropped on its own (counting); optional. */
  readonly onDroppedUpdate?: (reason: MemberUpdateDrop) => void;
}

/** Anti-entropy records merged per event-loop turn (≈ 10-30 ms with signature checks). */
const MERGE_CHUNK_RECORDS = 256;

/** Messages per Exchange call, sent or accepted. */
export const MAX_MESSAGES_PER_EXCHANGE = 64;

/**
 * Binds a GossipNode to real time and gRPC: a timer wakes it at its next
 * deadline, local changes are flushed right away (eager push), outbound
 * messages become Cluster.Exchange calls (one per destination per batch), and
 * replies in the response are fed back in. Thin on purpose: every decision is
 * in the node.
 */
export class GossipDriver {
  private readonly peers = new Map<string, ClusterPeer>();
  private timer: NodeJS.Timeout | undefined;
  private resolveTimer: NodeJS.Timeout | undefined;
  private flushQueued = false;
  private mergeQueued = false;
  private stopped = false;
  private readonly inflight = new Set<Promise<void>>();
  private datagrams: DatagramTransport | undefined;

  constructor(
    private readonly node: GossipNode,
    private readonly bootstrap: readonly string[],
    private readonly options: GossipDriverOptions,
    private readonly log: Logger,
    private readonly clock: () => number = Date.now,
  ) {
    // Local announces (and merges) are pushed at once, after the current call returns.
    node.replica.onChange((key, record, source) => {
      if (log.isLevelEnabled('debug')) {
        log.debug({ infoHash: key, provider: record.addr, from: source }, 'record changed');
      }
      this.queueFlush();
    });
    node.membership.onChange = (m, prev) =>
      log.info(
        { member: m.id, addr: m.addr, state: m.state, prev, incarnation: m.incarnation },
        'member state',
      );
  }

  /** A member update left out of a message: counted and logged, the rest of the message kept. */
  private readonly onDrop = (reason: MemberUpdateDrop, err: InvalidArgumentError): void => {
    this.options.onDroppedUpdate?.(reason);
    this.log.debug({ reason, err: err.message }, 'member update dropped');
  };

  /** Resolves the bootstrap list and starts the timer loop. */
  async start(): Promise<void> {
    const bind = this.options.datagramBind;
    const sec = this.options.peerSecurity;
    if (bind !== undefined && sec?.tls === undefined) {
      const d = new DatagramTransport(
        {
          bind,
          auth: sec?.auth,
          clock: sec?.clock ?? Date.now,
          onRefused: (reason, peer) => sec?.onRefusedDatagram?.(reason, peer),
          allow: sec?.allowDatagram,
        },
        (messages, from) =>
          this.handleDatagram(messages, sec?.auth === undefined ? from : undefined),
      );
      try {
        await d.start();
        this.datagrams = d;
      } catch (err) {
        this.log.warn({ bind, err: (err as Error).message }, 'UDP probes off: cannot bind');
      }
    }
    await this.resolveBootstrap();
    if (this.bootstrap.some((b) => b.startsWith('dns:'))) {
      this.resolveTimer = setInterval(
        () => void this.resolveBootstrap(),
        this.options.resolveIntervalMs,
      );
      this.resolveTimer.unref();
    }
    this.schedule();
  }

  /** Handles an incoming Exchange: returns the replies addressed to the caller. */
  handle(messages: ClusterMessage[]): ClusterMessage[] {
    if (this.stopped) return [];
    const now = this.clock();
    const replies: ClusterMessage[] = [];
    const others: Outbound[] = [];
    for (const m of messages.slice(0, MAX_MESSAGES_PER_EXCHANGE)) {
      let env: Envelope;
      try {
        env = envelopeFromWire(m, this.options.limits, this.onDrop);
      } catch (err) {
        if (!(err instanceof InvalidArgumentError)) throw err;
        this.log.debug({ err: err.message, from: m.fromAddr }, 'cluster message dropped');
        continue;
      }
      for (const o of this.node.receive(env, now)) {
        if (o.to === env.fromAddr) replies.push(envelopeToWire(o.env));
        else others.push(o);
      }
    }
    this.dispatch(others);
    this.queueMerge();
    this.schedule();
    return replies;
  }

  /**
   * Handles probe datagrams: every reply goes out through dispatch (datagrams again).
   * Unkeyed, `source` (the datagram's source address) replaces each message's
   * from_addr, so acks, forwarded acks and refutation pushes go back where the
   * datagram came from, never to an address a forged datagram names: UDP makes
   * spoofing the source cheap, so the agent must not be a reflector either.
   * Keyed, from_addr is trusted: the MAC proves a cluster member wrote it (and
   * advertise names or NAT may make it differ from the source).
   */
  private handleDatagram(messages: ClusterMessage[], source: string | undefined): void {
    if (this.stopped) return;
    this.options.observe?.('in', messages);
    this.dispatch(this.receiveAll(messages, 'datagram', source, source));
    this.schedule();
  }

  /**
   * Feeds received messages (at most MAX_MESSAGES_PER_EXCHANGE) to the node and returns
   * what it wants sent. A message that fails validation is dropped and logged; the rest
   * of the batch still counts. `from` names the sender in the log (default: its fromAddr);
   * `replyTo`, when given, replaces every message's from_addr (see handleDatagram).
   */
  private receiveAll(
    messages: ClusterMessage[],
    what: 'datagram' | 'reply',
    from?: string,
    replyTo?: string,
  ): Outbound[] {
    const now = this.clock();
    const out: Outbound[] = [];
    for (const m of messages.slice(0, MAX_MESSAGES_PER_EXCHANGE)) {
      try {
        const env = envelopeFromWire(m, this.options.limits, this.onDrop);
        out.push(
          ...this.node.receive(replyTo === undefined ? env : { ...env, fromAddr: replyTo }, now),
        );
      } catch (err) {
        if (!(err instanceof InvalidArgumentError)) throw err;
        this.log.debug({ err: err.message, from: from ?? m.fromAddr }, `cluster ${what} dropped`);
      }
    }
    return out;
  }

  /**
   * Graceful leave: `left` is pushed (the caller has already tombstoned this
   * agent's records, which are in the same pushes), then waits for delivery.
   */
  async leave(): Promise<void> {
    if (this.stopped) return;
    this.dispatch(this.node.leave(this.clock()));
    // Two more gossip rounds carry `left` and the tombstones further.
    const deadline = this.clock() + this.options.leaveWaitMs;
    while (
      this.clock() < deadline &&
      (this.node.queuedRecords > 0 || this.node.membership.hasBroadcasts())
    ) {
      await new Promise((r) => setTimeout(r, this.node.options.gossipIntervalMs));
      this.dispatch(this.node.tick(this.clock()));
    }
    await Promise.race([
      Promise.allSettled([...this.inflight]),
      new Promise((r) => setTimeout(r, Math.max(0, deadline - this.clock()))),
    ]);
  }

  /** Stops timers and closes channels. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.resolveTimer !== undefined) clearInterval(this.resolveTimer);
    for (const p of this.peers.values()) p.close();
    this.peers.clear();
    this.datagrams?.stop();
  }

  /**
   * Merges the node's anti-entropy backlog a chunk per event-loop turn
   * (setImmediate runs after pending I/O), so that a large repair never holds
   * probe datagrams and lookups behind it.
   */
  private queueMerge(): void {
    if (this.mergeQueued || this.stopped || this.node.backlogRecords === 0) return;
    this.mergeQueued = true;
    setImmediate(() => {
      this.mergeQueued = false;
      if (this.stopped) return;
      this.node.mergeBacklog(MERGE_CHUNK_RECORDS);
      this.dispatch(this.node.drain());
      this.queueMerge();
    });
  }

  private queueFlush(): void {
    if (this.flushQueued || this.stopped) return;
    this.flushQueued = true;
    setImmediate(() => {
      this.flushQueued = false;
      this.dispatch(this.node.drain());
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    const now = this.clock();
    // Capped so that a clock jump never parks the loop for long.
    const wait = Math.max(0, Math.min(1000, this.node.nextWakeup() - now));
    const due = now + wait;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const late = this.clock() - due;
      // A timer this late means the whole process was stalled, not the peers.
      this.node.membership.compensateStall(late);
      this.dispatch(this.node.tick(this.clock()));
      this.schedule();
    }, wait);
  }

  private dispatch(out: Outbound[]): void {
    if (out.length === 0 || this.stopped) return;
    const byPeer = new Map<string, ClusterMessage[]>();
    const datagrams = new Map<string, ClusterMessage[]>();
    for (const o of out) {
      const t = o.env.body.type;
      const probe = t === 'ping' || t === 'ack' || t === 'nack' || t === 'ping-req';
      const map = this.datagrams !== undefined && probe && o.reliable !== true ? datagrams : byPeer;
      const list = map.get(o.to);
      const wire = envelopeToWire(o.env);
      if (list === undefined) map.set(o.to, [wire]);
      else list.push(wire);
    }
    for (const [addr, messages] of datagrams) {
      if (this.datagrams!.send(addr, messages)) {
        this.options.observe?.('out', messages);
        continue;
      }
      // Too big for one datagram (a long piggyback): the reliable path instead.
      const list = byPeer.get(addr);
      if (list === undefined) byPeer.set(addr, messages);
      else list.push(...messages);
    }
    for (const [addr, messages] of byPeer) {
      for (let i = 0; i < messages.length; i += MAX_MESSAGES_PER_EXCHANGE) {
        this.call(addr, messages.slice(i, i + MAX_MESSAGES_PER_EXCHANGE));
      }
    }
  }

  private call(addr: string, messages: ClusterMessage[]): void {
    const peer = this.peer(addr);
    const p = peer
      .exchange(messages, this.options.rpcTimeoutMs)
      .then((replies) => {
        if (this.stopped) return;
        this.dispatch(this.receiveAll(replies, 'reply', addr));
        this.queueMerge();
        this.schedule();
      })
      .catch((err: unknown) => {
        // SWIM judges silence by its own timers; a failed call is just silence
        // (and, while joining, tells the node that this bootstrap address is not there).
        this.node.noteUnreachable(addr);
        this.log.trace({ peer: addr, err: (err as Error).message }, 'cluster call failed');
      })
      .finally(() => this.inflight.delete(p));
    this.inflight.add(p);
  }

  private peer(addr: string): ClusterPeer {
    let p = this.peers.get(addr);
    if (p !== undefined) {
      // Most recently used last, so the first entry is the one to close.
      this.peers.delete(addr);
      this.peers.set(addr, p);
      return p;
    }
    if (this.peers.size >= this.options.maxPeers) {
      const [oldest, c] = this.peers.entries().next().value as [string, ClusterPeer];
      this.peers.delete(oldest);
      c.close();
    }
    p = new ClusterPeer(
      addr,
      this.options.maxMessageBytes,
      this.options.observe,
      this.options.peerSecurity,
    );
    this.peers.set(addr, p);
    return p;
  }

  private async resolveBootstrap(): Promise<void> {
    const out = new Set<string>();
    for (const entry of this.bootstrap) {
      if (!entry.startsWith('dns:')) {
        out.add(entry);
        continue;
      }
      const rest = entry.slice(4);
      const colon = rest.lastIndexOf(':');
      const name = rest.slice(0, colon);
      const port = rest.slice(colon + 1);
      try {
        for (const a of await lookup(name, { all: true })) {
          out.add(a.family === 6 ? `[${a.address}]:${port}` : `${a.address}:${port}`);
        }
      } catch (err) {
        this.log.warn({ name, err: (err as Error).message }, 'bootstrap name did not resolve');
      }
    }
    this.node.setBootstrap([...out]);
  }
}
