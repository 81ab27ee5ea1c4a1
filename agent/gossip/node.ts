import { Membership, type MembershipOptions, type ProbeSend } from '../membership/swim.js';
import type { MemberBase } from '../membership/table.js';
import type { MemberUpdate } from '../membership/types.js';
import type { Replica } from '../replica.js';
import {
  DEFAULT_DIGEST_BUCKETS,
  differingBuckets,
  digestCutoff,
  validBucketCount,
} from '../store/digest.js';
import type { InfoHashKey } from '../store/infohash.js';
import type { ProviderRecord } from '../store/record.js';
import type { Body, Envelope, Outbound, RecordSet, SyncBody } from './messages.js';

/** Dissemination and anti-entropy settings. Defaults in DEFAULT_GOSSIP_OPTIONS. */
export interface GossipOptions {
  /** A gossip round (queued deltas to `fanout` members) runs this often (memberlist: 200 ms). */
  readonly gossipIntervalMs: number;
  /** Members each eager push and each round goes to (memberlist: 3). */
  readonly fanout: number;
  /** Push-pull anti-entropy with one member this often (memberlist: 30 s). */
  readonly syncIntervalMs: number;
  /** Digest buckets (a power of two ≤ 4096). */
  readonly digestBuckets: number;
  /** Digests leave out records expiring within this margin of the cutoff's base. */
  readonly digestMarginMs: number;
  /** Cutoffs are rounded up to a multiple of this, so digests cache well. */
  readonly digestAlignMs: number;
  /** Records are gossiped retransmitMult·ceil(log10(N+1)) times after the eager push. */
  readonly retransmitMult: number;
  /** Membership updates piggybacked per message. */
  readonly maxPiggybackMembers: number;
  /** Records piggybacked per message. */
  readonly maxPiggybackRecords: number;
  /** Records queued for gossip; past it the most-sent are dropped (anti-entropy repairs). */
  readonly maxQueuedRecords: number;
  /** Records per anti-entropy message. */
  readonly maxSyncRecords: number;
  /** While no other member is known, the bootstrap list is retried this often. */
  readonly joinRetryMs: number;
  /**
   * After an eager push of new records, the next round comes this soon rather
   * than a whole interval later. One push to `fanout` members misses about
   * e^-fanout of the cluster (5 % for 3); a second push shortly after closes
   * that tail in milliseconds instead of a round.
   */
  readonly followUpMs: number;
}

/** Defaults: memberlist's LAN profile, with anti-entropy every 10 s instead of 30 s. */
export const DEFAULT_GOSSIP_OPTIONS: GossipOptions = Object.freeze({
  gossipIntervalMs: 200,
  fanout: 3,
  syncIntervalMs: 10_000,
  digestBuckets: DEFAULT_DIGEST_BUCKETS,
  digestMarginMs: 2000,
  digestAlignMs: 1000,
  retransmitMult: 3,
  maxPiggybackMembers: 32,
  maxPiggybackRecords: 256,
  maxQueuedRecords: 20_000,
  maxSyncRecords: 5000,
  joinRetryMs: 1000,
  followUpMs: 40,
});

interface QueuedRecord {
  key: InfoHashKey;
  record: ProviderRecord;
  transmits: number;
}

interface SyncSession {
  cutoff: number;
  started: number;
}

/** Counters for metrics and the simulator. */
export interface GossipCounters {
  messagesSent: number;
  recordsSent: number;
  syncsStarted: number;
  syncsDiffering: number;
}

/**
 * One agent's gossip: SWIM membership plus dissemination of record deltas and
 * membership updates, and push-pull anti-entropy. A pure state machine over the
 * Replica (whose clock the caller keeps equal to the `now` it passes here):
 * events in (`tick`, `receive`, local changes via the Replica), messages out.
 * The same class runs in the agent (timers + gRPC) and in the simulator
 * (virtual time + a lossy network).
 */
export class GossipNode {
  readonly membership: Membership;
  readonly counters: GossipCounters = {
    messagesSent: 0,
    recordsSent: 0,
    syncsStarted: 0,
    syncsDiffering: 0,
  };
  private readonly queue = new Map<string, QueuedRecord>();
  private eagerRecords: QueuedRecord[] = [];
  private eagerSources = new Set<string>();
  private eagerMembers = false;
  /** Extra addresses the next eager push must reach (e.g. an accuser to refute). */
  private readonly eagerExtra = new Set<string>();
  private outbox: Outbound[] = [];
  private bootstrap: string[] = [];
  private readonly sessions = new Map<string, SyncSession>();
  private nextGossipAt: number;
  private nextSyncAt: number;
  private nextJoinAt: number;
  private resyncWith: string | undefined;
  private readonly toldDead = new Map<string, number>();
  private syncRounds = 0;

  constructor(
    readonly replica: Replica,
    readonly addr: string,
    now: number,
    readonly options: GossipOptions = DEFAULT_GOSSIP_OPTIONS,
    membershipOptions?: MembershipOptions,
    private readonly random: () => number = Math.random,
    /** A shared starting view (the simulator starts every agent converged). */
    base?: MemberBase,
  ) {
    if (!validBucketCount(options.digestBuckets)) {
      throw new RangeError(`digestBuckets ${options.digestBuckets} is not a power of two ≤ 4096`);
    }
    this.membership = new Membership(replica.nodeId, addr, now, membershipOptions, random, base);
    this.nextGossipAt = now + options.gossipIntervalMs;
    this.nextSyncAt = now + Math.floor(random() * options.syncIntervalMs);
    this.nextJoinAt = now;
    replica.onChange((key, record, source) => this.onRecordChange(key, record, source));
  }

  get id(): string {
    return this.replica.nodeId;
  }

  /** Replaces the bootstrap list ("host:port"; DNS names already resolved by the driver). */
  setBootstrap(addrs: readonly string[]): void {
    this.bootstrap = addrs.filter((a) => a !== this.addr);
  }

  /** The earliest time `tick` has something to do. */
  nextWakeup(): number {
    let t = Math.min(this.membership.nextWakeup(), this.nextSyncAt);
    if (this.queue.size > 0 || this.membership.hasBroadcasts()) t = Math.min(t, this.nextGossipAt);
    if (this.membership.activeCount() === 0 && this.bootstrap.length > 0)
      t = Math.min(t, this.nextJoinAt);
    return t;
  }

  /** Advances time. Returns the messages to send. */
  tick(now: number): Outbound[] {
    for (const s of this.membership.tick(now)) this.sendProbe(s);
    if (this.membership.isLeaving) return this.drain();

    if (
      this.membership.activeCount() === 0 &&
      this.bootstrap.length > 0 &&
      now >= this.nextJoinAt
    ) {
      this.nextJoinAt = now + this.options.joinRetryMs;
      for (const addr of this.bootstrap) this.startSync(addr, now);
    }

    if (now >= this.nextGossipAt) {
      this.nextGossipAt = now + this.options.gossipIntervalMs;
      if (this.queue.size > 0 || this.membership.hasBroadcasts()) {
        for (const m of this.membership.randomMembers(this.options.fanout)) {
          this.send(m.addr, { type: 'push' });
        }
      }
    }

    if (now >= this.nextSyncAt) {
      // Jitter keeps agents started together from syncing in lockstep.
      this.nextSyncAt =
        now + Math.floor(this.options.syncIntervalMs * (0.75 + this.random() * 0.5));
      const target = this.resyncWith ?? this.syncTarget();
      this.resyncWith = undefined;
      if (target !== undefined) this.startSync(target, now);
    }
    return this.drain();
  }

  /** Handles one message. Returns the messages to send (replies included). */
  receive(env: Envelope, now: number): Outbound[] {
    this.membership.heardFrom(env.fromId, now);
    for (const u of env.members) this.applyMember(u, now, env.fromAddr, true);
    this.mergeSets(env.records, env.fromId);
    this.tellIfDead(env, now);
    const b = env.body;
    switch (b.type) {
      case 'ping':
        for (const s of this.membership.onPing(env.fromAddr, b)) this.sendProbe(s);
        break;
      case 'ack':
        for (const s of this.membership.onAck(b, now)) this.sendProbe(s);
        break;
      case 'ping-req':
        for (const s of this.membership.onPingReq(env.fromAddr, b, now)) this.sendProbe(s);
        break;
      case 'sync':
        this.onSync(env, b, now);
        break;
      case 'push':
        break;
    }
    return this.drain();
  }

  /** Starts a graceful leave: `left` is pushed at once to twice the fanout. */
  leave(now: number): Outbound[] {
    this.membership.leave(now);
    for (const m of this.membership.randomMembers(this.options.fanout * 2)) {
      this.send(m.addr, { type: 'push' });
    }
    return this.drain();
  }

  /** Messages produced by local changes (announces) since the last call. */
  drain(): Outbound[] {
    for (const p of this.membership.takeSends()) this.sendProbe(p);
    if (this.eagerRecords.length > 0 || this.eagerMembers) this.flushEager();
    const out = this.outbox;
    this.outbox = [];
    return out;
  }

  /** Records waiting in the gossip queue. */
  get queuedRecords(): number {
    return this.queue.size;
  }

  private onRecordChange(key: InfoHashKey, record: ProviderRecord, source: string): void {
    const id = `${key}|${record.addr}`;
    this.queue.delete(id);
    if (this.queue.size >= this.options.maxQueuedRecords) this.dropMostSent();
    const q: QueuedRecord = { key, record, transmits: 0 };
    this.queue.set(id, q);
    // Eager push: a record first seen is sent on at once rather than at the next
    // round, which would cost a round per hop.
    if (this.eagerRecords.length < this.options.maxPiggybackRecords) {
      this.eagerRecords.push(q);
      if (source !== '') this.eagerSources.add(source);
    }
  }

  private flushEager(): void {
    const records = this.eagerRecords;
    const exclude = this.eagerSources;
    this.eagerRecords = [];
    this.eagerSources = new Set();
    this.eagerMembers = false;
    const targets = new Set<string>(this.eagerExtra);
    this.eagerExtra.clear();
    for (const m of this.membership.randomMembers(this.options.fanout, exclude))
      targets.add(m.addr);
    if (targets.size === 0) return;
    if (records.length > 0) {
      this.nextGossipAt = Math.min(this.nextGossipAt, this.replica.now() + this.options.followUpMs);
    }
    const limit = this.recordLimit();
    for (const to of targets) {
      const sets = groupRecords(records);
      for (const q of records) {
        q.transmits++;
        if (q.transmits >= limit + this.options.fanout)
          this.queue.delete(`${q.key}|${q.record.addr}`);
      }
      this.emit(to, { type: 'push' }, sets, records.length);
    }
  }

  private recordLimit(): number {
    return (
      this.options.retransmitMult * Math.max(1, Math.ceil(Math.log10(this.membership.size() + 1)))
    );
  }

  private applyMember(u: MemberUpdate, now: number, fromAddr: string, broadcast: boolean): void {
    const outcome = this.membership.apply(u, now, broadcast);
    if (outcome === 'refuted') {
      // Tell the accuser at once, and the cluster at once.
      this.eagerExtra.add(fromAddr);
      this.eagerMembers = true;
    } else if (outcome === 'changed' || outcome === 'new') {
      if (broadcast) this.eagerMembers = true;
      // A suspected member hears of it directly so that it can refute in time.
      if (u.state === 'suspect') {
        const m = this.membership.get(u.id);
        if (m !== undefined && u.reporter === this.id) this.eagerExtra.add(m.addr);
      }
    }
  }

  /**
   * Applies another agent's whole member list (anti-entropy). Its own entry
   * counts as gossip from it; its `dead` verdicts about third parties become
   * suspicions here (as memberlist's push-pull does): a member the other side
   * of a healed partition declared dead gets the chance to refute instead of
   * being killed on hearsay.
   */
  private applyList(list: readonly MemberUpdate[], env: Envelope, now: number): void {
    for (const u of list) {
      if (u.id === env.fromId) this.applyMember(u, now, env.fromAddr, true);
      else if (u.state === 'dead' && u.id !== this.id) {
        this.applyMember({ ...u, state: 'suspect', reporter: env.fromId }, now, env.fromAddr, true);
      } else this.applyMember(u, now, env.fromAddr, false);
    }
  }

  /**
   * A message from a member this agent holds dead: it is alive after all (a
   * healed partition, a long stall). Only it can say so, with a greater
   * incarnation, so it is told what we believe; it refutes at once and the
   * refutation spreads from here. At most once a second per member.
   */
  private tellIfDead(env: Envelope, now: number): void {
    const m = this.membership.get(env.fromId);
    if (m === undefined || m.state !== 'dead') return;
    const last = this.toldDead.get(m.id);
    if (last !== undefined && now - last < 1000) return;
    if (this.toldDead.size >= 1024) this.toldDead.clear();
    this.toldDead.set(m.id, now);
    const u: MemberUpdate = {
      id: m.id,
      addr: m.addr,
      state: 'dead',
      incarnation: m.incarnation,
      reporter: this.id,
    };
    this.emit(env.fromAddr, { type: 'push' }, [], 0, [u], true);
  }

  private mergeSets(sets: readonly RecordSet[], source: string): void {
    for (const s of sets) for (const r of s.records) this.replica.mergeRemote(s.key, r, source);
  }

  private syncTarget(): string | undefined {
    this.syncRounds++;
    // A bootstrap address that is not a live member: it may be a healed partition
    // or a member we forgot; syncing with it rejoins the two views.
    if (this.bootstrap.length > 0 && this.syncRounds % 2 === 0) {
      const activeAddrs = this.membership.activeAddrs();
      const strangers = this.bootstrap.filter((a) => !activeAddrs.has(a));
      if (strangers.length > 0) return strangers[Math.floor(this.random() * strangers.length)];
    }
    // Now and then, a member we believe dead: if it is alive behind a healed
    // partition, the exchange of member lists lets both sides refute.
    if (this.syncRounds % 3 === 0) {
      const dead = this.membership.randomDead();
      if (dead !== undefined) return dead.addr;
    }
    return this.membership.randomMembers(1)[0]?.addr;
  }

  private startSync(to: string, now: number): void {
    const cutoff = digestCutoff(now, this.options.digestMarginMs, this.options.digestAlignMs);
    const buckets = this.options.digestBuckets;
    const digest = this.replica.store.digest(cutoff, buckets);
    if (this.sessions.size >= 64) this.sessions.clear(); // bounded; stale sessions are harmless
    this.sessions.set(to, { cutoff, started: now });
    this.counters.syncsStarted++;
    this.send(to, {
      ...emptySync(1, cutoff, buckets),
      root: digest.root,
      membersRoot: this.membership.membersRoot(),
    });
  }

  private onSync(env: Envelope, b: SyncBody, now: number): void {
    if (!validBucketCount(b.buckets)) return;
    // Never hash more than a little into the future: a bogus cutoff must not make
    // us leave out everything.
    const cutoff = Math.min(
      b.cutoff,
      now + this.options.digestMarginMs + this.options.digestAlignMs,
    );
    const store = this.replica.store;
    switch (b.phase) {
      case 1: {
        const mine = store.digest(cutoff, b.buckets);
        const membersDiffer = b.membersRoot !== this.membership.membersRoot();
        const recordsDiffer = b.root !== mine.root;
        if (!membersDiffer && !recordsDiffer) return;
        this.counters.syncsDiffering++;
        this.send(env.fromAddr, {
          ...emptySync(2, cutoff, b.buckets),
          root: mine.root,
          bucketHashes: recordsDiffer ? mine.bucketHashes : [],
          members: membersDiffer ? this.membership.snapshot() : [],
        });
        return;
      }
      case 2: {
        const session = this.sessions.get(env.fromAddr);
        if (session === undefined || session.cutoff !== b.cutoff) return;
        this.sessions.delete(env.fromAddr);
        this.applyList(b.members, env, now);
        let want: number[] = [];
        let records: RecordSet[] = [];
        let more = false;
        if (b.bucketHashes.length === b.buckets) {
          const mine = store.digest(cutoff, b.buckets);
          want = differingBuckets(mine.bucketHashes, b.bucketHashes);
          const got = store.recordsInBuckets(
            new Set(want),
            b.buckets,
            cutoff,
            this.options.maxSyncRecords,
          );
          records = got.sets;
          more = got.more;
        }
        if (more) this.resyncWith = env.fromAddr;
        this.send(env.fromAddr, {
          ...emptySync(3, cutoff, b.buckets),
          want,
          records,
          more,
          members: b.members.length > 0 ? this.membership.snapshot() : [],
        });
        return;
      }
      case 3: {
        this.applyList(b.members, env, now);
        this.mergeSets(b.records, env.fromId);
        if (b.want.length === 0) return;
        const wanted = new Set(
          b.want.filter((x) => Number.isInteger(x) && x >= 0 && x < b.buckets),
        );
        const got = store.recordsInBuckets(wanted, b.buckets, cutoff, this.options.maxSyncRecords);
        this.send(env.fromAddr, {
          ...emptySync(4, cutoff, b.buckets),
          records: got.sets,
          more: got.more,
        });
        return;
      }
      case 4: {
        this.mergeSets(b.records, env.fromId);
        if (b.more) {
          this.resyncWith = env.fromAddr;
          this.nextSyncAt = now;
        }
        return;
      }
    }
  }

  private sendProbe(s: ProbeSend): void {
    this.send(s.to, s.body, s.reliable === true);
  }

  /** Sends `body` to `to` with as much queued gossip piggybacked as fits. */
  private send(to: string, body: Body, reliable = false): void {
    const members = this.membership.takeBroadcasts(this.options.maxPiggybackMembers);
    const taken = this.takeRecords(this.options.maxPiggybackRecords);
    this.emit(to, body, groupRecords(taken), taken.length, members, reliable);
  }

  private emit(
    to: string,
    body: Body,
    records: RecordSet[],
    recordCount: number,
    members: MemberUpdate[] = this.membership.takeBroadcasts(this.options.maxPiggybackMembers),
    reliable = false,
  ): void {
    this.counters.messagesSent++;
    this.counters.recordsSent += recordCount;
    const env: Envelope = { fromId: this.id, fromAddr: this.addr, members, records, body };
    this.outbox.push(reliable ? { to, env, reliable } : { to, env });
  }

  /** Up to `max` queued records, least-sent first; counts the transmission. */
  private takeRecords(max: number): QueuedRecord[] {
    if (this.queue.size === 0) return [];
    const limit = this.recordLimit() + this.options.fanout;
    let list = [...this.queue.values()];
    if (list.length > max) list = list.sort((a, b) => a.transmits - b.transmits).slice(0, max);
    for (const q of list) {
      if (++q.transmits >= limit) this.queue.delete(`${q.key}|${q.record.addr}`);
    }
    return list;
  }

  /**
   * Makes room in a full queue: drops the most-sent tenth at once (ties: the oldest
   * first). One sort per maxQueuedRecords/10 inserts — a scan of the whole queue on
   * every insert made a burst of announces quadratic.
   */
  private dropMostSent(): void {
    const n = Math.max(1, Math.floor(this.options.maxQueuedRecords / 10));
    // Transmit counts are small integers (≤ the retransmit limit): count them instead of
    // sorting the queue, then drop everything above the threshold count and, at it, the
    // oldest (Map order) until n are gone — the same records a stable sort would pick.
    const counts: number[] = [];
    for (const q of this.queue.values()) counts[q.transmits] = (counts[q.transmits] ?? 0) + 1;
    let threshold = counts.length - 1;
    let above = 0;
    while (threshold > 0 && above + (counts[threshold] ?? 0) < n) above += counts[threshold--] ?? 0;
    let atThreshold = n - above;
    for (const [id, q] of this.queue) {
      if (q.transmits > threshold) this.queue.delete(id);
      else if (q.transmits === threshold && atThreshold > 0) {
        this.queue.delete(id);
        atThreshold--;
      }
    }
  }
}

function emptySync(phase: 1 | 2 | 3 | 4, cutoff: number, buckets: number): SyncBody {
  return {
    type: 'sync',
    phase,
    cutoff,
    buckets,
    root: '',
    membersRoot: '',
    bucketHashes: [],
    want: [],
    members: [],
    records: [],
    more: false,
  };
}

function groupRecords(list: readonly QueuedRecord[]): RecordSet[] {
  if (list.length === 0) return [];
  const byKey = new Map<InfoHashKey, ProviderRecord[]>();
  for (const q of list) {
    const a = byKey.get(q.key);
    if (a === undefined) byKey.set(q.key, [q.record]);
    else a.push(q.record);
  }
  return [...byKey].map(([key, records]) => ({ key, records }));
}
