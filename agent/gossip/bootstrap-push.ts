import type { Logger } from 'pino';
import type { Replica } from '../replica.js';
import type { InfoHashKey } from '../store/infohash.js';
import type { ProviderRecord } from '../store/record.js';
import { PeerClient, type RecordBatch } from '../transport/peer-client.js';

/** Timing and bounds of the bootstrap push. */
export interface BootstrapPushOptions {
  /** Changed records are pushed this often, ms. */
  readonly intervalMs: number;
  /** Every record held is pushed this often (repairs pushes lost to a down peer), ms. */
  readonly fullSyncIntervalMs: number;
  /** Records per Gossip call. */
  readonly maxBatch: number;
  /** Deadline of one Gossip call, ms. */
  readonly timeoutMs: number;
  /** Changed records waiting to be pushed; past it they wait for the next full sync. */
  readonly maxPending: number;
  readonly maxMessageBytes: number;
}

/**
 * The foundation's replication: every change this agent sees is pushed, batched
 * every `intervalMs`, to each configured bootstrap agent, and everything it holds
 * is pushed every `fullSyncIntervalMs`. Receivers forward what changed them, so a
 * record floods the bootstrap graph and stops where it is already known.
 */
export class BootstrapPush {
  private readonly peers: PeerClient[];
  private readonly busy = new Set<PeerClient>();
  // Per peer, so that a peer busy with a long full sync still gets every change later.
  private readonly pending = new Map<PeerClient, Pending>();
  private timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly replica: Replica,
    peers: readonly string[],
    private readonly options: BootstrapPushOptions,
    private readonly log: Logger,
  ) {
    this.peers = peers.map((p) => new PeerClient(p, options.maxMessageBytes));
    for (const p of this.peers) this.pending.set(p, { records: new Map(), count: 0 });
    replica.onChange((key, record) => this.enqueue(key, record));
  }

  start(): void {
    if (this.peers.length === 0) return;
    this.timers.push(setInterval(() => this.flush(), this.options.intervalMs));
    this.timers.push(setInterval(() => this.fullSync(), this.options.fullSyncIntervalMs));
    setImmediate(() => this.fullSync());
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    for (const p of this.peers) p.close();
  }

  /** Pushes what changed since the last flush, now. */
  flush(): void {
    for (const peer of this.peers) {
      const pending = this.pending.get(peer)!;
      if (pending.count === 0 || this.busy.has(peer)) continue;
      this.pending.set(peer, { records: new Map(), count: 0 });
      void this.send(peer, toBatches(pending.records, this.options.maxBatch), false);
    }
  }

  private enqueue(key: InfoHashKey, record: ProviderRecord): void {
    for (const pending of this.pending.values()) {
      if (pending.count >= this.options.maxPending) continue; // the next full sync carries it
      let byAddr = pending.records.get(key);
      if (byAddr === undefined) pending.records.set(key, (byAddr = new Map()));
      if (!byAddr.has(record.addr)) pending.count++;
      byAddr.set(record.addr, record);
    }
  }

  private fullSync(): void {
    const now = this.replica.now();
    const all = new Map<InfoHashKey, Map<string, ProviderRecord>>();
    for (const key of this.replica.store.keys()) {
      all.set(key, new Map(this.replica.store.records(key, now).map((r) => [r.addr, r])));
    }
    const batches = toBatches(all, this.options.maxBatch);
    for (const peer of this.peers) void this.send(peer, batches, true);
  }

  private async send(peer: PeerClient, calls: RecordBatch[][], full: boolean): Promise<void> {
    // One conversation per peer at a time: a slow or dead peer must not pile up calls.
    if (this.busy.has(peer)) return;
    this.busy.add(peer);
    try {
      for (const batches of calls) {
        await peer.gossip(this.replica.nodeId, batches, this.options.timeoutMs);
      }
    } catch (err) {
      this.log.debug({ peer: peer.addr, full, err: (err as Error).message }, 'gossip push failed');
    } finally {
      this.busy.delete(peer);
    }
  }
}

/** Changed records waiting for one peer, coalesced per (info hash, addr). */
interface Pending {
  records: Map<InfoHashKey, Map<string, ProviderRecord>>;
  count: number;
}

/** Splits records into calls of at most `maxBatch` records each. */
function toBatches(
  records: Map<InfoHashKey, Map<string, ProviderRecord>>,
  maxBatch: number,
): RecordBatch[][] {
  const calls: RecordBatch[][] = [];
  let call: RecordBatch[] = [];
  let size = 0;
  for (const [key, byAddr] of records) {
    let chunk: ProviderRecord[] = [];
    for (const r of byAddr.values()) {
      chunk.push(r);
      if (++size >= maxBatch) {
        call.push({ key, records: chunk });
        calls.push(call);
        call = [];
        chunk = [];
        size = 0;
      }
    }
    if (chunk.length > 0) call.push({ key, records: chunk });
  }
  if (call.length > 0) calls.push(call);
  return calls;
}
