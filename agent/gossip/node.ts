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
import { RepairBudget, bucketsFor, fingerprintsOf, pickRecords } from './repair.js';

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
  /**
   * The digest grows with the store: the initiator picks the smallest power of two
   * ≥ digestBuckets that keeps about this many records per bucket (≤ 4096).
   */
  readonly digestRecordsPerBucket: number;
  /**
   * Repair budget: records this agent sends in anti-entropy per second (token bucket,
   * one second deep). Bounds repair bandwidth and the receivers' merge (signature
   * check) CPU so that a repair never starves lookups.
   */
  readonly repairRecordsPerSec: number;
  /**
   * Repair CPU budget: records this agent fingerprints per second in version-2
   * exchanges (as initiator and as responder). Caps the fingerprints of one
   * exchange and spaces back-to-back exchanges, so that repair during a burst —
   * when almost every bucket differs — never takes over the event loop.
   */
  readonly repairFingerprintsPerSec: number;
  /** While replicas differ, the next exchange with that member starts this soon. */
  readonly resyncMs: number;
  /** Fingerprints per version-2 sync message. */
  readonly maxSyncFingerprints: number;
  /**
   * Anti-entropy records beyond this many per message are merged later in chunks
   * (`mergeBacklog`, driven by the agent's event loop) so that probes are answered
   * between them. 0 merges everything at once (the simulator).
   */
  readonly deferMergeRecords: number;
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
  digestRecordsPerBucket: 32,
  // ≈ 1 MB/s at ~100 B a record, and well under what one core verifies (Ed25519).
  repairRecordsPerSec: 10_000,
  // A fingerprint costs ~1-2 µs (the record hash): ≤ 10-20 % of a core.
  repairFingerprintsPerSec: 100_000,
  resyncMs: 100,
  maxSyncFingerprints: 32_768,
  deferMergeRecords: 0,
});

interface QueuedRecord {
  key: InfoHashKey;
  record: ProviderRecord;
  transmits: number;
}

/** One received sync message being handled: the message, its body, the clamped cutoff, now. */
interface SyncStep {
  readonly env: Envelope;
  readonly b: SyncBody;
  readonly cutoff: number;
  readonly now: number;
}

interface SyncSession {
  cutoff: number;
  started: number;
  /** Version 2: the buckets asked for in phase 3 (for phase 5). */
  want?: ReadonlySet<number>;
  buckets?: number;
  /** Started while this agent had not yet completed its first full sync. */
  join: boolean;
}

/** Counters for metrics and the simulator. */
export interface GossipCounters {
  messagesSent: number;
  recordsSent: number;
  syncsStarted: number;
  syncsDiffering: number;
  /** Records sent in anti-entropy (repair), and record fingerprints. */
  repairRecordsSent: number;
  repairFingerprintsSent: number;
  /** Records dropped from a full gossip queue before they had been sent enough. */
  queueDropped: number;
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
    repairRecordsSent: 0,
    repairFingerprintsSent: 0,
    queueDropped: 0,
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
  private readonly repairSend: RepairBudget;
  private readonly repairHash: RepairBudget;
  /** Exchanges still owed after the gossip queue dropped records (see dropMostSent). */
  private repairDebt = 0;
  /** Records of the last digest: sizes the next one. */
  private lastDigestRecords = 0;
  /** Anti-entropy records waiting to be merged (deferMergeRecords), oldest first. */
  private backlog: { sets: RecordSet[]; source: string; count: number }[] = [];
  private backlogCount = 0;
  private joinState: 'none' | 'pending' | 'done' = 'none';
  private readonly unreachable = new Set<string>();

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
    this.repairSend = new RepairBudget(options.repairRecordsPerSec, now);
    this.repairHash = new RepairBudget(options.repairFingerprintsPerSec, now);
    replica.onChange((key, record, source) => this.onRecordChange(key, record, source));
  }

  get id(): string {
    return this.replica.nodeId;
  }

  /** Replaces the bootstrap list ("host:port"; DNS names already resolved by the driver). */
  setBootstrap(addrs: readonly string[]): void {
    this.bootstrap = addrs.filter((a) => a !== this.addr);
    if (this.joinState === 'none' && this.bootstrap.length > 0) this.joinState = 'pending';
  }

  /**
   * Whether this agent holds what the cluster holds: it had nothing to join
   * (no bootstrap), every bootstrap address was unreachable while it knew no
   * member (a lone first agent), or its first full exchange completed (every
   * record of a member pulled, no margin left out). The agent reports
   * NOT_SERVING until then (or a bounded time).
   */
  get joinSynced(): boolean {
    if (this.backlogCount > 0) return false;
    if (this.joinState !== 'pending') return true;
    return (
      this.membership.activeCount() === 0 && this.bootstrap.every((a) => this.unreachable.has(a))
    );
  }

  /** The driver could not reach `addr` (connection refused, timeout). */
  noteUnreachable(addr: string): void {
    if (this.joinState === 'pending' && this.bootstrap.includes(addr)) this.unreachable.add(addr);
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

    // Digests would differ until the backlog is merged: exchanging now would resend it.
    if (now >= this.nextSyncAt && this.backlogCount > 0) {
      this.nextSyncAt = now + this.options.resyncMs;
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
      case 'nack':
        this.membership.onNack(b);
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

  /**
   * Merges records. Anti-entropy batches (`sync`) above deferMergeRecords go to the
   * backlog instead (bounded: past MAX_BACKLOG records they are dropped, and the
   * next exchange finds them again), for the driver to merge in chunks.
   */
  private mergeSets(sets: readonly RecordSet[], source: string, sync = false): void {
    const defer = this.options.deferMergeRecords;
    if (sync && defer > 0) {
      const count = countRecords(sets);
      if (count > defer || this.backlogCount > 0) {
        if (this.backlogCount + count > MAX_BACKLOG) return;
        this.backlog.push({ sets: [...sets], source, count });
        this.backlogCount += count;
        return;
      }
    }
    for (const s of sets) for (const r of s.records) this.replica.mergeRemote(s.key, r, source);
  }

  /** Anti-entropy records waiting to be merged. */
  get backlogRecords(): number {
    return this.backlogCount;
  }

  /**
   * Merges up to about `max` backlog records (whole info hashes). The driver calls
   * it from setImmediate until it returns 0, so probes are answered in between.
   */
  mergeBacklog(max: number): number {
    let done = 0;
    while (done < max && this.backlog.length > 0) {
      const batch = this.backlog[0];
      const s = batch.sets.pop();
      if (s === undefined) {
        this.backlog.shift();
        continue;
      }
      for (const r of s.records) this.replica.mergeRemote(s.key, r, batch.source);
      done += s.records.length;
      batch.count -= s.records.length;
      this.backlogCount -= s.records.length;
    }
    return this.backlogCount;
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
    const join = this.joinState === 'pending';
    // The first full sync leaves nothing out: every record live now is pulled.
    const cutoff = join
      ? now
      : digestCutoff(now, this.options.digestMarginMs, this.options.digestAlignMs);
    const buckets = bucketsFor(
      this.lastDigestRecords,
      this.options.digestRecordsPerBucket,
      this.options.digestBuckets,
    );
    const digest = this.replica.store.digest(cutoff, buckets);
    this.lastDigestRecords = digest.records;
    if (this.sessions.size >= 64) this.sessions.clear(); // bounded; stale sessions are harmless
    this.sessions.set(to, { cutoff, started: now, join });
    this.counters.syncsStarted++;
    // While repairing, a lost reply must not park repair for a whole interval.
    if (join || this.repairDebt > 0 || this.resyncWith !== undefined)
      this.nextSyncAt = Math.min(this.nextSyncAt, now + Math.max(1000, this.options.resyncMs));
    this.send(to, {
      ...emptySync(1, cutoff, buckets),
      root: digest.root,
      membersRoot: this.membership.membersRoot(),
      version: 2,
    });
  }

  /**
   * One exchange is over. If records differed, the next one with the same member
   * starts as soon as the repair budgets allow; after the gossip queue dropped
   * records, exchanges go on with random members until `repairDebt` clean ones.
   */
  private syncDone(addr: string, differed: boolean, now: number): void {
    if (differed) this.resyncWith = addr;
    else if (this.repairDebt > 0) this.repairDebt--;
    else return;
    const wait = Math.max(
      this.options.resyncMs,
      this.repairSend.waitMs(now),
      this.repairHash.waitMs(now),
    );
    this.nextSyncAt = Math.min(this.nextSyncAt, now + wait);
  }

  /** Records this agent may still send in repair now (the budget, ≤ maxSyncRecords). */
  private repairAllowance(now: number): number {
    return Math.max(
      0,
      Math.min(this.options.maxSyncRecords, Math.floor(this.repairSend.available(now))),
    );
  }

  private spendRepair(records: number, fingerprints: number, now: number): void {
    this.repairSend.spend(records, now);
    this.counters.repairRecordsSent += records;
    this.counters.repairFingerprintsSent += fingerprints;
  }

  private onSync(env: Envelope, b: SyncBody, now: number): void {
    if (!validBucketCount(b.buckets)) return;
    // Never hash more than a little into the future: a bogus cutoff must not make
    // us leave out everything.
    const cutoff = Math.min(
      b.cutoff,
      now + this.options.digestMarginMs + this.options.digestAlignMs,
    );
    const v2 = (b.version ?? 0) >= 2;
    const store = this.replica.store;
    switch (b.phase) {
      case 1: {
        const mine = store.digest(cutoff, b.buckets);
        const membersDiffer = b.membersRoot !== this.membership.membersRoot();
        const recordsDiffer = b.root !== mine.root;
        // Version 2 hears "in sync" too, so that it can stop repairing (and finish a join).
        if (!membersDiffer && !recordsDiffer && !v2) return;
        if (membersDiffer || recordsDiffer) this.counters.syncsDiffering++;
        this.send(env.fromAddr, {
          ...emptySync(2, cutoff, b.buckets),
          root: mine.root,
          bucketHashes: recordsDiffer ? mine.bucketHashes : [],
          members: membersDiffer ? this.membership.snapshot() : [],
          version: v2 ? 2 : 0,
        });
        return;
      }
      case 2: {
        const session = this.sessions.get(env.fromAddr);
        if (session === undefined || session.cutoff !== b.cutoff) return;
        this.applyList(b.members, env, now);
        if (v2) return this.phase2v2({ env, b, cutoff, now }, session);
        this.sessions.delete(env.fromAddr);
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
            this.repairAllowance(now),
          );
          records = got.sets;
          more = got.more;
          this.spendRepair(countRecords(records), 0, now);
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
        this.mergeSets(b.records, env.fromId, true);
        if (b.want.length === 0) return;
        const wanted = new Set(
          b.want.filter((x) => Number.isInteger(x) && x >= 0 && x < b.buckets),
        );
        if (v2) return this.phase3v2({ env, b, cutoff, now }, wanted);
        const got = store.recordsInBuckets(wanted, b.buckets, cutoff, this.repairAllowance(now));
        this.spendRepair(countRecords(got.sets), 0, now);
        this.send(env.fromAddr, {
          ...emptySync(4, cutoff, b.buckets),
          records: got.sets,
          more: got.more,
        });
        return;
      }
      case 4: {
        this.mergeSets(b.records, env.fromId, true);
        const session = this.sessions.get(env.fromAddr);
        if (v2 && session !== undefined && session.cutoff === b.cutoff) {
          return this.phase4v2({ env, b, cutoff, now }, session);
        }
        if (b.more) {
          this.resyncWith = env.fromAddr;
          this.nextSyncAt = now;
        }
        return;
      }
      case 5:
        this.mergeSets(b.records, env.fromId, true);
        return;
    }
  }

  /** Initiator, version 2: the responder's bucket hashes → fingerprints of ours that differ. */
  private phase2v2({ env, b, cutoff, now }: SyncStep, session: SyncSession): void {
    if (b.bucketHashes.length !== b.buckets) {
      // Records agree (maybe only members differed): the exchange is over.
      this.sessions.delete(env.fromAddr);
      if (session.join) this.joinState = 'done';
      if (b.members.length > 0) {
        this.send(env.fromAddr, {
          ...emptySync(3, cutoff, b.buckets),
          members: this.membership.snapshot(),
          version: 2,
        });
      }
      this.syncDone(env.fromAddr, false, now);
      return;
    }
    const store = this.replica.store;
    const mine = store.digest(cutoff, b.buckets);
    const differing = differingBuckets(mine.bucketHashes, b.bucketHashes);
    // Whole buckets while their fingerprints fit the message and the budget, from a
    // random start (a burst keeps the first buckets differing; the rest must get a
    // turn); the rest waits for the next exchange.
    const cap = Math.min(
      this.options.maxSyncFingerprints,
      Math.max(0, Math.floor(this.repairHash.available(now))),
    );
    const want: number[] = [];
    let planned = 0;
    let more = false;
    const start = Math.floor(this.random() * differing.length);
    for (let i = 0; i < differing.length; i++) {
      const k = differing[(start + i) % differing.length];
      const n = mine.bucketCounts[k] ?? 0;
      if (want.length > 0 && planned + n > cap) {
        more = true;
        break;
      }
      want.push(k);
      planned += n;
    }
    const fingerprints = fingerprintsOf(
      store.recordsInBuckets(new Set(want), b.buckets, cutoff, Infinity).sets,
    );
    this.repairHash.spend(fingerprints.length, now);
    this.counters.repairFingerprintsSent += fingerprints.length;
    session.want = new Set(want);
    session.buckets = b.buckets;
    if (more) session.join = false; // not everything was compared: not yet complete
    this.send(env.fromAddr, {
      ...emptySync(3, cutoff, b.buckets),
      want,
      fingerprints,
      more,
      members: b.members.length > 0 ? this.membership.snapshot() : [],
      version: 2,
    });
  }

  /** Responder, version 2: our records the initiator lacks, and the fingerprints we lack. */
  private phase3v2({ env, b, cutoff, now }: SyncStep, wanted: ReadonlySet<number>): void {
    if (this.repairHash.available(now) <= 0) {
      // Out of repair CPU for now: the initiator comes back (more) once it can.
      this.send(env.fromAddr, { ...emptySync(4, cutoff, b.buckets), more: true, version: 2 });
      return;
    }
    const theirs = new Set(b.fingerprints ?? []);
    const sets = this.replica.store.recordsInBuckets(wanted, b.buckets, cutoff, Infinity).sets;
    this.repairHash.spend(countRecords(sets), now);
    const matched = new Set<string>();
    const picked = pickRecords(
      sets,
      (fp) => {
        if (!theirs.has(fp)) return true;
        matched.add(fp);
        return false;
      },
      this.repairAllowance(now),
    );
    // `matched` is complete only when every record was looked at.
    const need: string[] = [];
    if (!picked.more) {
      for (const fp of theirs) {
        if (need.length >= this.options.maxSyncFingerprints) break;
        if (!matched.has(fp)) need.push(fp);
      }
    }
    this.spendRepair(picked.count, need.length, now);
    this.send(env.fromAddr, {
      ...emptySync(4, cutoff, b.buckets),
      records: picked.sets,
      fingerprints: need,
      more: picked.more || b.more,
      version: 2,
    });
  }

  /** Initiator, version 2: the responder's records are merged; send the ones it lacks. */
  private phase4v2({ env, b, cutoff, now }: SyncStep, session: SyncSession): void {
    this.sessions.delete(env.fromAddr);
    const need = new Set(b.fingerprints ?? []);
    let sentMore = false;
    let sent = 0;
    if (need.size > 0 && session.want !== undefined && session.buckets !== undefined) {
      const sets = this.replica.store.recordsInBuckets(
        session.want,
        session.buckets,
        cutoff,
        Infinity,
      ).sets;
      this.repairHash.spend(countRecords(sets), now);
      const picked = pickRecords(sets, (fp) => need.has(fp), this.repairAllowance(now));
      sentMore = picked.more;
      sent = picked.count;
      this.spendRepair(picked.count, 0, now);
      this.send(env.fromAddr, {
        ...emptySync(5, cutoff, b.buckets),
        records: picked.sets,
        more: picked.more,
        version: 2,
      });
    }
    if (session.join && !b.more) this.joinState = 'done';
    const differed = countRecords(b.records) > 0 || sent > 0 || b.more || sentMore || need.size > 0;
    this.syncDone(env.fromAddr, differed, now);
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
    let early = 0;
    const full = this.recordLimit() + this.options.fanout;
    for (const [id, q] of this.queue) {
      let drop = false;
      if (q.transmits > threshold) drop = true;
      else if (q.transmits === threshold && atThreshold > 0) {
        drop = true;
        atThreshold--;
      }
      if (!drop) continue;
      this.queue.delete(id);
      if (q.transmits < full) early++;
    }
    if (early > 0) {
      // Dropped before it had spread: remembered as "needs repair". Exchanges start at
      // once and go on (with random members) until `fanout` in a row find nothing.
      this.counters.queueDropped += early;
      this.repairDebt = Math.max(this.repairDebt, this.options.fanout);
      this.nextSyncAt = Math.min(this.nextSyncAt, this.replica.now() + this.options.resyncMs);
    }
  }
}

function emptySync(phase: 1 | 2 | 3 | 4 | 5, cutoff: number, buckets: number): SyncBody {
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

/** Anti-entropy records waiting to be merged, at most (≈ 20 MB): beyond, repair resends. */
const MAX_BACKLOG = 100_000;

function countRecords(sets: readonly RecordSet[]): number {
  let n = 0;
  for (const s of sets) n += s.records.length;
  return n;
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
