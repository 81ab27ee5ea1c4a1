import { LocalHealth } from './health.js';
import { INCARNATION_AHEAD_S, INCARNATION_LIMIT, maxIncarnation } from './incarnation.js';
import { MemberBase, MemberTable } from './table.js';
import {
  isActive,
  memberFromUpdate,
  supersedes,
  type Member,
  type MemberState,
  type MemberUpdate,
} from './types.js';

/**
 * Timing and bounds of SWIM failure detection. Defaults in DEFAULT_MEMBERSHIP_OPTIONS.
 * Names follow memberlist's where they mean the same thing.
 */
export interface MembershipOptions {
  /** One member is probed this often (memberlist LAN: 1 s). */
  readonly probeIntervalMs: number;
  /** Wait this long for a direct ack before asking others to probe (memberlist: 500 ms). */
  readonly probeTimeoutMs: number;
  /** Then wait this long for an indirect ack before suspecting. */
  readonly indirectTimeoutMs: number;
  /** Members asked to probe indirectly (SWIM's k; memberlist: 3). */
  readonly indirectProbes: number;
  /** Suspicion timeout with `suspicionConfirmations` independent confirmations (Lifeguard min). */
  readonly suspicionMinMs: number;
  /** Suspicion timeout with no confirmation (Lifeguard max). */
  readonly suspicionMaxMs: number;
  /** Independent suspicions that bring the timeout down to the minimum (Lifeguard K). */
  readonly suspicionConfirmations: number;
  /** Dead and left members are forgotten this long after entering that state. */
  readonly reapMs: number;
  /** An update is gossiped retransmitMult·ceil(log10(N+1)) times (memberlist: 4). */
  readonly retransmitMult: number;
  /** Members kept; updates about further new members are ignored. */
  readonly maxMembers: number;
  /** Queued membership updates; past it the most-sent one is dropped. */
  readonly maxBroadcasts: number;
  /**
   * A gap between two ticks longer than this means this process was stalled
   * (SIGSTOP, GC, overload): pending deadlines are pushed back by the gap rather
   * than blaming others for our own silence (Lifeguard's local health idea).
   */
  readonly stallMs: number;
  /**
   * Lifeguard local health: highest score; probe intervals and timeouts are
   * multiplied by score + 1 (memberlist: awarenessMaxMultiplier 8). Default 8; 0 = off.
   */
  readonly maxLocalHealth?: number;
}

/** Defaults tuned for loopback/LAN (see docs/scale.md for the reasoning). */
export const DEFAULT_MEMBERSHIP_OPTIONS: MembershipOptions = Object.freeze({
  probeIntervalMs: 1000,
  probeTimeoutMs: 200,
  indirectTimeoutMs: 400,
  indirectProbes: 5,
  suspicionMinMs: 1000,
  suspicionMaxMs: 3000,
  suspicionConfirmations: 3,
  reapMs: 30_000,
  retransmitMult: 3,
  maxMembers: 100_000,
  maxBroadcasts: 10_000,
  stallMs: 500,
  maxLocalHealth: 8,
});

/** A probe message the state machine wants sent. The gossip node wraps it. */
export type ProbeBody =
  | { readonly type: 'ping'; readonly seq: number; readonly target: string }
  | { readonly type: 'ack'; readonly seq: number; readonly target: string }
  | { readonly type: 'nack'; readonly seq: number; readonly target: string }
  | {
      readonly type: 'ping-req';
      readonly seq: number;
      readonly target: string;
      readonly targetAddr: string;
      /** Lifeguard: the requester wants a nack if the target is late. */
      readonly nack?: boolean;
    };

/** A probe message and where it goes ("host:port"). */
export interface ProbeSend {
  readonly to: string;
  readonly body: ProbeBody;
  /** Send over the reliable (stream) transport, not a datagram: the fallback ping. */
  readonly reliable?: boolean;
}

/** What applying an update did. */
export type ApplyOutcome = 'new' | 'changed' | 'confirmed' | 'refuted' | 'ignored';

interface Probe {
  seq: number;
  target: string;
  addr: string;
  indirectAt: number;
  failAt: number;
  indirectSent: boolean;
  /** Lifeguard: nacks asked of indirect helpers, and received. */
  nacksExpected?: number;
  nacks?: number;
}

interface Forward {
  requesterAddr: string;
  requesterSeq: number;
  target: string;
  expires: number;
  /** When to tell the requester that the target has not answered yet (Lifeguard nack). */
  nackAt?: number;
}

interface Suspicion {
  incarnation: number;
  started: number;
  reporters: Set<string>;
  deadline: number;
}

interface ProbeOrder {
  readonly base: readonly string[];
  readonly extra: readonly string[];
  readonly extraLen: number;
  readonly ids: readonly string[];
  readonly selfIndex: number;
}

interface Broadcast {
  update: MemberUpdate;
  transmits: number;
}

/**
 * SWIM membership (Das et al. 2002) with Lifeguard suspicion (Dadgar et al.
 * 2017) as a pure state machine: it reads no clock (every event takes `now`),
 * does no I/O (it returns probe messages to send) and draws randomness from the
 * injected `random`. The gossip node carries its updates; the agent's driver
 * and the simulator feed it events.
 */
export class Membership {
  readonly self: Member;
  private readonly members: MemberTable;
  /** Reaped ids and their last incarnation: stale gossip must not resurrect them. */
  private readonly reaped = new Map<string, { incarnation: number; until: number }>();
  private readonly suspicions = new Map<string, Suspicion>();
  private readonly broadcasts = new Map<string, Broadcast>();
  private readonly forwards = new Map<number, Forward>();
  /** Probes of members others suspect, to confirm quickly (see `apply`). */
  private readonly verifications = new Map<number, Probe>();
  private sends: ProbeSend[] = [];
  private probe: Probe | undefined;
  private order: ProbeOrder | undefined;
  private nextProbeAt = 0;
  private nextReapAt = 0;
  private seq = 0;
  private leaving = false;
  /** A refutation that must wait for the incarnation cap to reach it (incarnation.ts). */
  private pendingRefute: number | undefined;
  /** Updates dropped for an incarnation over maxIncarnation(now); read by metrics. */
  incarnationRefused = 0;
  /** Lifeguard local health: raised by signs that this agent is itself slow. */
  readonly health: LocalHealth;
  /** Called after a member (not self) enters a new state or incarnation; for logs and metrics. */
  onChange: ((m: Member, prev: MemberState) => void) | undefined;

  constructor(
    id: string,
    addr: string,
    now: number,
    readonly options: MembershipOptions = DEFAULT_MEMBERSHIP_OPTIONS,
    private readonly random: () => number = Math.random,
    base: MemberBase = MemberBase.EMPTY,
  ) {
    // Seconds since the epoch: a restarted agent with the same id starts above any
    // incarnation its previous life reached (unless it refuted more than once a
    // second), so it rejoins without waiting for its old entry to be reaped.
    const incarnation = Math.floor(now / 1000);
    this.health = new LocalHealth(options.maxLocalHealth ?? 8);
    this.members = new MemberTable(base);
    const inBase = this.members.edit(id);
    if (inBase !== undefined) {
      inBase.addr = addr;
      inBase.stateSince = now;
      inBase.lastHeard = now;
      const known = inBase.state === 'alive' && inBase.incarnation >= incarnation;
      this.members.setState(inBase, 'alive', Math.max(incarnation, inBase.incarnation));
      this.self = inBase;
      // Everyone sharing the base already knows us as we are: nothing to announce.
      if (!known) this.queue(this.selfUpdate());
    } else {
      this.self = { id, addr, state: 'alive', incarnation, stateSince: now, lastHeard: now };
      this.members.insert(this.self);
      this.queue(this.selfUpdate());
    }
    this.nextProbeAt = now + Math.floor(random() * options.probeIntervalMs);
    this.nextReapAt = now + 1000;
  }

  /** Every member, self included. */
  all(): IterableIterator<Readonly<Member>> {
    return this.members.all();
  }

  /** The member with this id. */
  get(id: string): Readonly<Member> | undefined {
    return this.members.get(id);
  }

  /** How many members other than self are alive or suspect. */
  activeCount(): number {
    return this.members.activeCount - (isActive(this.self.state) ? 1 : 0);
  }

  /** Addresses of the members other than self that are alive or suspect. O(N). */
  activeAddrs(): Set<string> {
    const out = new Set<string>();
    for (const m of this.members.all()) {
      if (m.id !== this.self.id && isActive(m.state)) out.add(m.addr);
    }
    return out;
  }

  /** Members this agent believes alive or suspect, self included: the cluster size N. */
  size(): number {
    return this.activeCount() + 1;
  }

  /**
   * Up to `k` distinct random active members other than self, none of whose ids
   * is in `exclude`. Rejection sampling over the table's pick lists: O(k) when
   * most listed members are active (the table compacts when they are not).
   */
  randomMembers(k: number, exclude: ReadonlySet<string> = new Set()): Readonly<Member>[] {
    const out: Readonly<Member>[] = [];
    const avail = this.activeCount();
    if (avail === 0 || k <= 0) return out;
    const [base, extra] = this.members.pickLists();
    const listed = base.length + extra.length;
    const usable = (id: string): Readonly<Member> | undefined => {
      if (id === this.self.id || exclude.has(id)) return undefined;
      const m = this.members.get(id);
      return m !== undefined && isActive(m.state) ? m : undefined;
    };
    if (avail <= 2 * (k + exclude.size)) {
      for (const id of base) {
        const m = usable(id);
        if (m !== undefined) out.push(m);
      }
      for (const id of extra) {
        const m = usable(id);
        if (m !== undefined) out.push(m);
      }
      shuffle(out, this.random);
      return out.slice(0, k);
    }
    const picked = new Set<string>();
    for (let tries = 0; out.length < k && tries < k * 16 + 32; tries++) {
      const i = Math.floor(this.random() * listed);
      const id = i < base.length ? base[i] : extra[i - base.length];
      if (picked.has(id)) continue;
      picked.add(id);
      const m = usable(id);
      if (m !== undefined) out.push(m);
    }
    return out;
  }

  /** A random member in state dead (not left), or undefined. */
  randomDead(): Readonly<Member> | undefined {
    const dead: Readonly<Member>[] = [];
    for (const id of this.members.inactiveIds()) {
      const m = this.members.get(id);
      if (m?.state === 'dead') dead.push(m);
    }
    return dead.length === 0 ? undefined : dead[Math.floor(this.random() * dead.length)];
  }

  /** How many times each update is gossiped: retransmitMult·ceil(log10(N+1)). */
  retransmitLimit(): number {
    return this.options.retransmitMult * Math.max(1, Math.ceil(Math.log10(this.size() + 1)));
  }

  /** The whole view as updates, for anti-entropy. */
  snapshot(): MemberUpdate[] {
    const out: MemberUpdate[] = [];
    for (const m of this.members.all()) out.push(toUpdate(m));
    return out;
  }

  /**
   * XOR of a hash of each active member's id, self included, kept up to date in
   * O(1) per change. Two agents with the same root see the same live cluster.
   * Incarnations are left out on purpose: refutations and suspicions are
   * transient and settled by gossip; were they in the root, every refutation
   * in a large cluster would make anti-entropy exchange whole member lists.
   */
  membersRoot(): string {
    return this.members.root();
  }

  /** Queued updates to piggyback: up to `max`, least-sent first; counts the transmission. */
  takeBroadcasts(max: number): MemberUpdate[] {
    if (this.broadcasts.size === 0 || max <= 0) return [];
    const limit = this.retransmitLimit();
    const list = [...this.broadcasts.values()];
    if (list.length > max) list.sort((a, b) => a.transmits - b.transmits);
    const out: MemberUpdate[] = [];
    for (const b of list) {
      if (out.length >= max) break;
      out.push(b.update);
      if (++b.transmits >= limit) this.broadcasts.delete(b.update.id);
    }
    return out;
  }

  /** Whether membership updates wait to be gossiped. */
  hasBroadcasts(): boolean {
    return this.broadcasts.size > 0;
  }

  /** Notes that a message came from `id` (refreshes last heard). */
  heardFrom(id: string, now: number): void {
    const m = this.members.get(id);
    // Coarse on purpose (100 ms): an entry copied from a shared base costs memory.
    if (m !== undefined && now - m.lastHeard >= 100) this.members.edit(id)!.lastHeard = now;
  }

  /**
   * Applies a membership update. With `broadcast`, a change is queued to be
   * gossiped on. Updates about this agent that accuse it (suspect/dead at an
   * incarnation ≥ its own) are refuted by raising the incarnation.
   */
  apply(u: MemberUpdate, now: number, broadcast = true): ApplyOutcome {
    // A claim above the cap would pin the member where no refutation can beat it.
    if (u.incarnation > maxIncarnation(now)) {
      this.incarnationRefused++;
      return 'ignored';
    }
    if (u.id === this.self.id) return this.applyAboutSelf(u, now);
    const m = this.members.get(u.id);
    if (m === undefined) {
      const gone = this.reaped.get(u.id);
      if (gone !== undefined && u.incarnation <= gone.incarnation) return 'ignored';
      // Learning of a dead member we never knew adds nothing but memory.
      if (!isActive(u.state)) return 'ignored';
      if (this.members.size >= this.options.maxMembers) return 'ignored';
      const fresh = memberFromUpdate(u, now);
      this.members.insert(fresh);
      this.reaped.delete(u.id);
      if (u.state === 'suspect') this.startSuspicion(fresh, u.reporter, now);
      if (broadcast) this.queue(u);
      return 'new';
    }
    if (!supersedes(u.incarnation, u.state, m.incarnation, m.state)) {
      // The same suspicion from another reporter shortens the timeout (Lifeguard).
      if (u.state === 'suspect' && m.state === 'suspect' && u.incarnation === m.incarnation) {
        const s = this.suspicions.get(m.id);
        if (s !== undefined && u.reporter !== '' && !s.reporters.has(u.reporter)) {
          s.reporters.add(u.reporter);
          s.deadline = s.started + this.suspicionTimeout(s.reporters.size - 1);
          if (broadcast && s.reporters.size <= this.options.suspicionConfirmations + 1) {
            this.queue(u);
          }
          return 'confirmed';
        }
      }
      return 'ignored';
    }
    const e = this.members.edit(u.id)!;
    this.setState(e, u.state, u.incarnation, now);
    e.addr = u.addr;
    e.lastHeard = now;
    if (u.state === 'suspect') this.startSuspicion(e, u.reporter, now);
    if (broadcast) this.queue(u);
    if (u.state === 'suspect' && u.reporter !== this.self.id) this.maybeVerify(e, now);
    return 'changed';
  }

  /**
   * On hearing that another agent suspects `m`, probe it ourselves at once with
   * probability 2K/N (about 2K agents do so cluster-wide), instead of waiting for
   * our round-robin to reach it. A failed verification is an independent
   * confirmation, which shortens the Lifeguard timeout; a success does nothing
   * (the member refutes by itself). This is what makes a dead agent dead within
   * a few seconds without probing more often in steady state.
   */
  private maybeVerify(m: Readonly<Member>, now: number): void {
    const p = Math.min(1, (2 * this.options.suspicionConfirmations) / this.size());
    if (this.verifications.size >= 64 || this.random() >= p) return;
    const seq = this.nextSeq();
    // A full probe (direct, then indirect through k others) so that message loss
    // alone rarely turns into a false confirmation.
    this.verifications.set(seq, {
      seq,
      target: m.id,
      addr: m.addr,
      indirectAt: now + this.options.probeTimeoutMs,
      failAt: now + this.options.probeTimeoutMs + this.options.indirectTimeoutMs,
      indirectSent: false,
    });
    this.sends.push({ to: m.addr, body: { type: 'ping', seq, target: m.id } });
  }

  /** Probe messages produced outside `tick` (verification pings); drains them. */
  takeSends(): ProbeSend[] {
    const out = this.sends;
    this.sends = [];
    return out;
  }

  /** Starts leaving: this agent's state becomes `left`, to be gossiped. */
  leave(now: number): MemberUpdate {
    this.leaving = true;
    this.setState(this.self, 'left', this.self.incarnation, now);
    const u = this.selfUpdate();
    this.queue(u);
    return u;
  }

  /** Whether leave() was called. */
  get isLeaving(): boolean {
    return this.leaving;
  }

  /** The deadline of the next thing to do. */
  nextWakeup(): number {
    let t = Math.min(this.nextProbeAt, this.nextReapAt);
    if (this.probe !== undefined)
      t = Math.min(t, this.probe.indirectSent ? this.probe.failAt : this.probe.indirectAt);
    for (const s of this.suspicions.values()) t = Math.min(t, s.deadline);
    for (const v of this.verifications.values())
      t = Math.min(t, v.indirectSent ? v.failAt : v.indirectAt);
    // When the cap reaches the pending refutation (it moves one per second).
    if (this.pendingRefute !== undefined)
      t = Math.min(t, (this.pendingRefute - INCARNATION_AHEAD_S) * 1000);
    return t;
  }

  /** Advances time: probes, indirect probes, suspicion timeouts, reaping. */
  tick(now: number): ProbeSend[] {
    const out: ProbeSend[] = [];
    if (this.pendingRefute !== undefined && this.pendingRefute <= maxIncarnation(now)) {
      this.raiseSelf(this.pendingRefute, now);
    }
    if (this.leaving) return out;

    const p = this.probe;
    if (p !== undefined) {
      if (!p.indirectSent && now >= p.indirectAt) {
        p.indirectSent = true;
        this.indirect(p, out);
      }
      if (now >= p.failAt) {
        this.probe = undefined;
        // A failed probe, and each helper's nack that never came, hint that we are the slow one.
        this.health.apply(1 + Math.max(0, (p.nacksExpected ?? 0) - (p.nacks ?? 0)));
        const m = this.members.get(p.target);
        if (m !== undefined && m.state === 'alive') {
          const u: MemberUpdate = {
            id: m.id,
            addr: m.addr,
            state: 'suspect',
            incarnation: m.incarnation,
            reporter: this.self.id,
          };
          this.apply(u, now);
        }
      }
    }

    for (const [id, s] of this.suspicions) {
      if (now < s.deadline) continue;
      this.suspicions.delete(id);
      const m = this.members.get(id);
      if (m === undefined || m.state !== 'suspect' || m.incarnation !== s.incarnation) continue;
      this.apply(
        { id, addr: m.addr, state: 'dead', incarnation: m.incarnation, reporter: '' },
        now,
      );
    }

    for (const [seq, f] of this.forwards) {
      if (now >= f.expires) this.forwards.delete(seq);
      else if (f.nackAt !== undefined && now >= f.nackAt) {
        f.nackAt = undefined;
        out.push({
          to: f.requesterAddr,
          body: { type: 'nack', seq: f.requesterSeq, target: f.target },
        });
      }
    }

    for (const [seq, v] of this.verifications) {
      if (!v.indirectSent && now >= v.indirectAt) {
        v.indirectSent = true;
        this.indirect(v, out);
      }
      if (now < v.failAt) continue;
      this.verifications.delete(seq);
      const m = this.members.get(v.target);
      if (m === undefined || m.state !== 'suspect') continue;
      this.apply(
        {
          id: m.id,
          addr: m.addr,
          state: 'suspect',
          incarnation: m.incarnation,
          reporter: this.self.id,
        },
        now,
      );
    }

    if (now >= this.nextProbeAt) {
      // Lifeguard: an agent in poor local health probes, and so suspects, more slowly.
      const x = this.health.multiplier;
      this.nextProbeAt = now + this.options.probeIntervalMs * x;
      const target = this.nextProbeTarget(now);
      if (target !== undefined) {
        const seq = this.nextSeq();
        this.probe = {
          seq,
          target: target.id,
          addr: target.addr,
          indirectAt: now + this.options.probeTimeoutMs * x,
          failAt: now + (this.options.probeTimeoutMs + this.options.indirectTimeoutMs) * x,
          indirectSent: false,
        };
        out.push({ to: target.addr, body: { type: 'ping', seq, target: target.id } });
      }
    }

    if (now >= this.nextReapAt) {
      this.nextReapAt = now + 1000;
      this.reap(now);
    }
    return out;
  }

  /**
   * The indirect phase of a probe: ping-req through k random others (SWIM §3.1)
   * and, at the same time, a second direct ping (memberlist sends a TCP ping
   * here): one lost datagram, or a slow first reply, then no longer makes a
   * healthy member suspect.
   */
  private indirect(p: Probe, out: ProbeSend[]): void {
    out.push({ to: p.addr, body: { type: 'ping', seq: p.seq, target: p.target }, reliable: true });
    const helpers = this.randomMembers(this.options.indirectProbes, new Set([p.target]));
    p.nacksExpected = helpers.length;
    p.nacks = 0;
    for (const helper of helpers) {
      out.push({
        to: helper.addr,
        body: { type: 'ping-req', seq: p.seq, target: p.target, targetAddr: p.addr, nack: true },
      });
    }
  }

  /** A ping arrived: acknowledge it if it is meant for this agent. */
  onPing(fromAddr: string, body: { seq: number; target: string }): ProbeSend[] {
    // A restarted agent on the same address has a new id: it must not answer for
    // the old one, or the old one would never be declared dead.
    if (body.target !== this.self.id || this.leaving) return [];
    return [{ to: fromAddr, body: { type: 'ack', seq: body.seq, target: this.self.id } }];
  }

  /** A ping-req arrived: probe the target on the requester's behalf. */
  onPingReq(
    fromAddr: string,
    body: { seq: number; target: string; targetAddr: string; nack?: boolean },
    now: number,
  ): ProbeSend[] {
    if (this.leaving) return [];
    if (body.target === this.self.id) {
      return [{ to: fromAddr, body: { type: 'ack', seq: body.seq, target: this.self.id } }];
    }
    if (this.forwards.size >= 1024) return []; // bounded: a flood of requests is dropped
    const seq = this.nextSeq();
    this.forwards.set(seq, {
      requesterAddr: fromAddr,
      requesterSeq: body.seq,
      target: body.target,
      expires: now + this.options.probeTimeoutMs + this.options.indirectTimeoutMs,
      // memberlist: a nack at 80 % of the requester's indirect wait.
      nackAt:
        body.nack === true ? now + Math.floor(0.8 * this.options.indirectTimeoutMs) : undefined,
    });
    return [{ to: body.targetAddr, body: { type: 'ping', seq, target: body.target } }];
  }

  /** An ack arrived: completes our probe, or is relayed to whoever asked us to probe. */
  onAck(body: { seq: number; target: string }, now: number): ProbeSend[] {
    this.heardFrom(body.target, now);
    const p = this.probe;
    if (p !== undefined && p.seq === body.seq && p.target === body.target) {
      this.probe = undefined;
      this.health.apply(-1);
      return [];
    }
    const v = this.verifications.get(body.seq);
    if (v !== undefined && v.target === body.target) {
      this.verifications.delete(body.seq);
      return [];
    }
    const f = this.forwards.get(body.seq);
    if (f !== undefined && f.target === body.target) {
      this.forwards.delete(body.seq);
      return [
        { to: f.requesterAddr, body: { type: 'ack', seq: f.requesterSeq, target: f.target } },
      ];
    }
    return [];
  }

  /** A helper's nack for our current probe: the helper, and our path to it, are alive. */
  onNack(body: { seq: number; target: string }): void {
    const p = this.probe;
    if (p !== undefined && p.seq === body.seq && p.target === body.target && p.nacks !== undefined)
      p.nacks = Math.min(p.nacksExpected ?? 0, p.nacks + 1);
  }

  /** Lifeguard: timeout = max(min, max − (max − min)·log(C+1)/log(K+1)) for C confirmations. */
  suspicionTimeout(confirmations: number): number {
    const { suspicionMinMs: min, suspicionMaxMs: max, suspicionConfirmations: k } = this.options;
    if (k <= 0) return min;
    const frac = Math.log(confirmations + 1) / Math.log(k + 1);
    return Math.max(min, Math.floor(max - (max - min) * frac));
  }

  private applyAboutSelf(u: MemberUpdate, now: number): ApplyOutcome {
    if (this.leaving) {
      // Keep saying we left, above whatever is said about us.
      if (u.state !== 'left' && u.incarnation >= this.self.incarnation) {
        return this.raiseSelf(u.incarnation + 1, now) ? 'refuted' : 'ignored';
      }
      return 'ignored';
    }
    if (u.state === 'alive' && u.incarnation <= this.self.incarnation) return 'ignored';
    if (u.incarnation < this.self.incarnation) return 'ignored';
    // Someone believes we are suspect/dead/left (or alive above our own count):
    // refute with a greater incarnation (SWIM §4.2).
    // Lifeguard: being suspected is a sign that we are the slow one.
    this.health.apply(1);
    return this.raiseSelf(u.incarnation + 1, now) ? 'refuted' : 'ignored';
  }

  /**
   * Raises our incarnation to `inc` and queues the refutation — unless that
   * would pass maxIncarnation(now): what others say never takes us past the cap.
   * The claim being refuted was at most the cap, so the cap reaches `inc` within
   * a second; `tick` refutes then. Returns whether it refuted now.
   */
  private raiseSelf(inc: number, now: number): boolean {
    if (inc > maxIncarnation(now)) {
      // Beyond INCARNATION_LIMIT nothing can refute (after 2106): not kept.
      if (inc <= INCARNATION_LIMIT) this.pendingRefute = Math.max(this.pendingRefute ?? 0, inc);
      return false;
    }
    if (this.pendingRefute !== undefined && this.pendingRefute <= inc)
      this.pendingRefute = undefined;
    if (inc <= this.self.incarnation) return false;
    this.self.incarnation = inc;
    this.self.stateSince = now;
    this.queue(this.selfUpdate());
    return true;
  }

  private startSuspicion(m: Readonly<Member>, reporter: string, now: number): void {
    const reporters = new Set<string>(reporter === '' ? [] : [reporter]);
    this.suspicions.set(m.id, {
      incarnation: m.incarnation,
      started: now,
      reporters,
      deadline: now + this.suspicionTimeout(0),
    });
  }

  private setState(m: Member, state: MemberState, incarnation: number, now: number): void {
    const prev = m.state;
    if (m.state !== state) m.stateSince = now;
    this.members.setState(m, state, incarnation);
    if (state !== 'suspect') this.suspicions.delete(m.id);
    if (m !== this.self) this.onChange?.(m, prev);
  }

  private queue(u: MemberUpdate): void {
    this.broadcasts.delete(u.id);
    if (this.broadcasts.size >= this.options.maxBroadcasts) {
      let worst: Broadcast | undefined;
      for (const b of this.broadcasts.values())
        if (worst === undefined || b.transmits > worst.transmits) worst = b;
      if (worst !== undefined) this.broadcasts.delete(worst.update.id);
    }
    this.broadcasts.set(u.id, { update: u, transmits: 0 });
  }

  private selfUpdate(): MemberUpdate {
    return toUpdate(this.self);
  }

  /**
   * Round-robin probing over one order shared by all agents (their member ids
   * as the table lists them: sorted, then later joiners sorted): in probe
   * period p = ⌊now / interval⌋ the agent at index i probes the one at
   * i + 1 + (p mod (L−1)). Each agent still probes every member once per L−1
   * periods (SWIM §4.3's time-bounded completeness), and in every period the
   * map is a bijection, so every member is probed by someone once per
   * interval: a crashed agent is first probed within one interval of its
   * crash, not after an exponentially distributed wait (SWIM's random order
   * leaves it unprobed for 3 intervals with probability e^-3 = 5 %). Views that
   * differ a little only weaken "exactly once" to "about once".
   */
  private nextProbeTarget(now: number): Readonly<Member> | undefined {
    const [base, extra] = this.members.pickLists();
    let o = this.order;
    if (o === undefined || o.base !== base || o.extraLen !== extra.length || o.extra !== extra) {
      const ids = extra.length === 0 ? base : [...base, ...[...extra].sort()];
      let selfIndex = ids.indexOf(this.self.id);
      if (selfIndex < 0) selfIndex = 0;
      o = { base, extra, extraLen: extra.length, ids, selfIndex };
      this.order = o;
    }
    const len = o.ids.length;
    if (len < 2) return undefined;
    const period = Math.floor(now / this.options.probeIntervalMs);
    for (let k = 0; k < len - 1; k++) {
      const offset = 1 + ((period + k) % (len - 1));
      const m = this.members.get(o.ids[(o.selfIndex + offset) % len]);
      if (m !== undefined && m.id !== this.self.id && isActive(m.state)) return m;
    }
    return undefined;
  }

  private reap(now: number): void {
    const expired: string[] = [];
    for (const id of this.members.inactiveIds()) {
      const m = this.members.get(id);
      if (m === undefined || m.id === this.self.id) continue;
      if (now - m.stateSince >= this.options.reapMs) expired.push(id);
    }
    for (const id of expired) {
      const m = this.members.get(id)!;
      this.members.delete(id);
      this.reaped.set(id, { incarnation: m.incarnation, until: now + this.options.reapMs });
    }
    for (const [id, r] of this.reaped) if (now >= r.until) this.reaped.delete(id);
  }

  /**
   * Tells the machine that this process was stalled for `gapMs` (the driver saw
   * its timer fire that late: SIGSTOP, GC, overload). Pending deadlines move back
   * by the gap, so that our own silence is not blamed on others — a form of
   * Lifeguard's local health awareness. Ignored below `stallMs`.
   */
  compensateStall(gapMs: number): void {
    if (gapMs < this.options.stallMs) return;
    this.health.apply(1);
    this.shiftDeadlines(gapMs);
  }

  private shiftDeadlines(gap: number): void {
    if (this.probe !== undefined) {
      this.probe.indirectAt += gap;
      this.probe.failAt += gap;
    }
    for (const s of this.suspicions.values()) {
      s.deadline += gap;
      s.started += gap;
    }
    for (const f of this.forwards.values()) f.expires += gap;
    for (const v of this.verifications.values()) {
      v.indirectAt += gap;
      v.failAt += gap;
    }
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0;
    return this.seq;
  }
}

function toUpdate(m: Member): MemberUpdate {
  return { id: m.id, addr: m.addr, state: m.state, incarnation: m.incarnation, reporter: '' };
}

function shuffle<T>(a: T[], random: () => number): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
}
