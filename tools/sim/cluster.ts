import { ClusterMessage } from '../../generated/btoverlay/v1/cluster.js';
import type { Envelope, Outbound } from '../../agent/gossip/messages.js';
import { GossipNode, type GossipOptions } from '../../agent/gossip/node.js';
import type { MembershipOptions } from '../../agent/membership/swim.js';
import { MemberBase } from '../../agent/membership/table.js';
import type { MemberUpdate } from '../../agent/membership/types.js';
import { Replica } from '../../agent/replica.js';
import { Store } from '../../agent/store/store.js';
import { envelopeToWire } from '../../agent/transport/cluster-convert.js';
import { EventHeap, mulberry32 } from './heap.js';

/**
 * HTTP/2 + gRPC framing per message, bytes: a HEADERS frame (9-byte frame header,
 * RFC 7540 §4.1, plus ~10 bytes of HPACK-indexed headers once the dynamic table
 * is warm, RFC 7541), a DATA frame header (9) and gRPC's 5-byte length prefix,
 * and the trailers of a response (~12). Added to every simulated message so the
 * byte figures approximate what the agent writes to its sockets.
 */
export const FRAMING_BYTES = 45;
/**
 * Probes (ping, ack, ping-req) travel as UDP datagrams in the agent (see
 * agent/transport/cluster-datagram.ts): the datagram carries an
 * ExchangeRequest wrapper (2 bytes) and a UDP header (8, RFC 768).
 */
export const DATAGRAM_FRAMING_BYTES = 10;

/** The simulated network. */
export interface NetworkOptions {
  readonly loss: number;
  readonly latencyMinMs: number;
  readonly latencyMaxMs: number;
}

/** One simulated agent: the real GossipNode over a real Replica and Store, on a virtual clock. */
export interface SimAgent {
  readonly index: number;
  readonly id: string;
  readonly addr: string;
  readonly node: GossipNode;
  readonly replica: Replica;
  alive: boolean;
  wakeAt: number;
  bytesSent: number;
  messagesSent: number;
}

type Event =
  { kind: 'wake'; agent: SimAgent } | { kind: 'deliver'; agent: SimAgent; env: Envelope };

/**
 * Runs N GossipNodes — the agent's own membership and gossip code — in virtual
 * time over a lossy, delayed network. Every message is a real Envelope; with
 * `countBytes` it is also encoded with the real protobuf codec to count bytes.
 */
export class SimCluster {
  now: number;
  readonly agents: SimAgent[] = [];
  private readonly byAddr = new Map<string, SimAgent>();
  private readonly heap = new EventHeap<Event>();
  private readonly random: () => number;
  /** When set, messages between different sides are dropped. */
  partition: ((a: SimAgent, b: SimAgent) => boolean) | undefined;
  countBytes = false;
  /** When set, anti-entropy (sync) messages alone are encoded and counted in `syncBytes`. */
  countSyncBytes = false;
  syncBytes = 0;
  messagesDelivered = 0;

  constructor(
    n: number,
    start: number,
    seed: number,
    private readonly net: NetworkOptions,
    gossip: GossipOptions,
    membership: MembershipOptions,
    storeFor: (i: number) => Store,
  ) {
    this.now = start;
    this.random = mulberry32(seed);
    const seedView: MemberUpdate[] = [];
    for (let i = 0; i < n; i++) {
      const id = `n${i}`;
      const addr = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:6000`;
      seedView.push({
        id,
        addr,
        state: 'alive',
        incarnation: Math.floor(start / 1000),
        reporter: '',
      });
    }
    // One frozen converged view shared by all agents (copy-on-write per agent).
    const base = new MemberBase(seedView, start);
    for (let i = 0; i < n; i++) {
      const { id, addr } = seedView[i];
      const replica = new Replica(storeFor(i), id, () => this.now);
      const node = new GossipNode(
        replica,
        addr,
        start,
        gossip,
        membership,
        mulberry32(seed * 7919 + i),
        base,
      );
      const agent: SimAgent = {
        index: i,
        id,
        addr,
        node,
        replica,
        alive: true,
        wakeAt: Infinity,
        bytesSent: 0,
        messagesSent: 0,
      };
      this.agents.push(agent);
      this.byAddr.set(addr, agent);
    }
    for (const a of this.agents) this.reschedule(a);
  }

  /** Runs events until virtual time `until` or until `stop()` returns true (checked after each event). */
  runUntil(until: number, stop?: () => boolean): void {
    for (;;) {
      if (this.heap.peekTime() > until) break;
      const e = this.heap.pop()!;
      this.now = e.time;
      const a = e.item.agent;
      if (!a.alive) continue;
      if (e.item.kind === 'wake') {
        if (a.wakeAt !== e.time) continue; // superseded
        a.wakeAt = Infinity;
        this.send(a, a.node.tick(this.now));
      } else {
        this.messagesDelivered++;
        this.send(a, a.node.receive(e.item.env, this.now));
      }
      this.reschedule(a);
      if (stop !== undefined && stop()) return;
    }
    this.now = Math.max(this.now, until);
  }

  /** Lets `agent` act now on a local change (an announce): drains and sends its outbox. */
  flush(a: SimAgent): void {
    this.send(a, a.node.drain());
    this.reschedule(a);
  }

  /** Crashes an agent: it neither sends nor receives from now on (kill -9). */
  kill(a: SimAgent): void {
    a.alive = false;
  }

  private reschedule(a: SimAgent): void {
    if (!a.alive) return;
    const t = Math.max(this.now, a.node.nextWakeup());
    if (t < a.wakeAt) {
      a.wakeAt = t;
      this.heap.push(t, { kind: 'wake', agent: a });
    }
  }

  private send(from: SimAgent, out: Outbound[]): void {
    for (const o of out) {
      from.messagesSent++;
      if (this.countSyncBytes && o.env.body.type === 'sync') {
        this.syncBytes +=
          ClusterMessage.encode(envelopeToWire(o.env)).finish().length + FRAMING_BYTES;
      }
      if (this.countBytes) {
        const t = o.env.body.type;
        const datagram =
          (t === 'ping' || t === 'ack' || t === 'nack' || t === 'ping-req') && o.reliable !== true;
        from.bytesSent +=
          ClusterMessage.encode(envelopeToWire(o.env)).finish().length +
          (datagram ? DATAGRAM_FRAMING_BYTES : FRAMING_BYTES);
      }
      const to = this.byAddr.get(o.to);
      if (to === undefined || !to.alive) continue;
      if (this.partition !== undefined && this.partition(from, to)) continue;
      if (this.random() < this.net.loss) continue;
      const latency =
        this.net.latencyMinMs + this.random() * (this.net.latencyMaxMs - this.net.latencyMinMs);
      this.heap.push(this.now + latency, { kind: 'deliver', agent: to, env: o.env });
    }
  }
}
