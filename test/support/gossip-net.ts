import { Replica } from '../../agent/replica.js';
import type { InfoHashKey } from '../../agent/store/infohash.js';
import { Store } from '../../agent/store/store.js';
import type { Outbound } from '../../agent/gossip/messages.js';
import { DEFAULT_GOSSIP_OPTIONS, GossipNode, type GossipOptions } from '../../agent/gossip/node.js';

/**
 * The gossip state machine driven directly, in virtual time, with a network that
 * delivers (or drops) every message at once: no sockets, no timers.
 */
export class Net {
  now = 1_700_000_000_000;
  readonly nodes = new Map<string, GossipNode>();
  /** Messages delivered, as [from, to, body type]. */
  readonly log: [string, string, string][] = [];
  /** Return true to lose a message. */
  drop: (from: string, o: Outbound) => boolean = () => false;
  /** Sees every message delivered (replies included). */
  observe: (from: string, o: Outbound) => void = () => {};

  add(name: string, options: Partial<GossipOptions> = {}, bootstrap: string[] = []): GossipNode {
    const addr = `${name}:6000`;
    const replica = new Replica(new Store(), name, () => this.now);
    let seed = name.charCodeAt(0) * 7919;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const node = new GossipNode(
      replica,
      addr,
      this.now,
      { ...DEFAULT_GOSSIP_OPTIONS, ...options },
      undefined,
      random,
    );
    node.setBootstrap(bootstrap.map((b) => `${b}:6000`));
    this.nodes.set(addr, node);
    return node;
  }

  /** Delivers `out` (sent by `from`) and every reply, transitively. */
  deliver(from: string, out: Outbound[]): void {
    const queue: [string, Outbound][] = out.map((o) => [from, o]);
    for (let n = 0; queue.length > 0; n++) {
      if (n > 100_000) throw new Error('message storm');
      const [src, o] = queue.shift()!;
      if (this.drop(src, o)) continue;
      const to = this.nodes.get(o.to);
      if (to === undefined) continue;
      this.log.push([src, o.to, o.env.body.type]);
      this.observe(src, o);
      for (const r of to.receive(o.env, this.now)) queue.push([o.to, r]);
    }
  }

  /** Advances virtual time in 10 ms steps, ticking every node. */
  run(ms: number): void {
    for (let t = 0; t < ms; t += 10) {
      this.now += 10;
      for (const [addr, node] of this.nodes) this.deliver(addr, node.tick(this.now));
    }
  }

  announce(node: GossipNode, key: InfoHashKey, addr: string): void {
    node.replica.announce(key, { addr, peerId: '-BT0001-000000000000', left: 0 });
    this.deliver(node.addr, node.drain());
  }
}
