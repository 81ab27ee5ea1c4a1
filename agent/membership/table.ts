import { hash64 } from '../store/digest.js';
import {
  isActive,
  memberFromUpdate,
  type Member,
  type MemberState,
  type MemberUpdate,
} from './types.js';

/**
 * A frozen starting view that many tables can share (copy-on-write). An agent
 * starts from an empty one; the simulator gives all of its 10 000 agents the
 * same converged view, which would otherwise cost 10 000² member objects.
 */
export class MemberBase {
  readonly byId: ReadonlyMap<string, Readonly<Member>>;
  /** Ids of the (active) members, for random picks and probe rounds. */
  readonly ids: readonly string[];
  readonly rootHi: number;
  readonly rootLo: number;

  constructor(updates: readonly MemberUpdate[], now: number) {
    const byId = new Map<string, Readonly<Member>>();
    let hi = 0;
    let lo = 0;
    for (const u of updates) {
      if (!isActive(u.state) || byId.has(u.id)) continue;
      byId.set(u.id, Object.freeze(memberFromUpdate(u, now)));
      const [h1, h2] = hash64(u.id);
      hi ^= h1;
      lo ^= h2;
    }
    this.byId = byId;
    // Sorted: the probe order (swim.ts) is the same on every agent sharing it.
    this.ids = Object.freeze([...byId.keys()].sort());
    this.rootHi = hi >>> 0;
    this.rootLo = lo >>> 0;
  }

  /** The empty view. */
  static readonly EMPTY = new MemberBase([], 0);
}

/**
 * One agent's member list: a shared MemberBase plus this agent's own entries
 * (copied on first write, `null` for a base member since reaped). Keeps, in
 * O(1) per change: the count of active members, the set of dead/left ones (for
 * reaping) and the members root (XOR of a hash of each active member's id).
 * Pure data structure; no clock, no I/O.
 */
export class MemberTable {
  private readonly own = new Map<string, Member | null>();
  /** Ids to pick from: the base's, then members added since (possibly stale). */
  private pickBase: readonly string[];
  private pickExtra: string[] = [];
  private readonly extraListed = new Set<string>();
  private active = 0;
  private entries: number;
  private readonly gone = new Set<string>();
  private rootHi: number;
  private rootLo: number;
  /** Bumped whenever the pick arrays are replaced (probe rounds hold the old ones). */
  generation = 0;

  constructor(private readonly base: MemberBase = MemberBase.EMPTY) {
    this.pickBase = base.ids;
    this.active = base.ids.length;
    this.entries = base.ids.length;
    this.rootHi = base.rootHi;
    this.rootLo = base.rootLo;
  }

  /** Entries held (every state), self included. */
  get size(): number {
    return this.entries;
  }

  /** Active (alive or suspect) members, self included if active. */
  get activeCount(): number {
    return this.active;
  }

  /** The member with this id (read only: change it through `edit`/`setState`). */
  get(id: string): Readonly<Member> | undefined {
    const o = this.own.get(id);
    if (o !== undefined) return o ?? undefined;
    return this.base.byId.get(id);
  }

  /** The member with this id, as a mutable object of this table (copied from the base). */
  edit(id: string): Member | undefined {
    const o = this.own.get(id);
    if (o !== undefined) return o ?? undefined;
    const b = this.base.byId.get(id);
    if (b === undefined) return undefined;
    const copy: Member = { ...b };
    this.own.set(id, copy);
    return copy;
  }

  /** Adds a member that is not held. */
  insert(m: Member): void {
    this.own.set(m.id, m);
    this.entries++;
    this.account(m.id, undefined, m.state);
  }

  /** Changes a member's state and incarnation, keeping counts and root in step. */
  setState(m: Member, state: MemberState, incarnation: number): void {
    const prev = m.state;
    m.state = state;
    m.incarnation = incarnation;
    this.account(m.id, prev, state);
  }

  /** Forgets a member. */
  delete(id: string): void {
    const m = this.get(id);
    if (m === undefined) return;
    this.account(id, m.state, undefined);
    this.entries--;
    if (this.base.byId.has(id)) this.own.set(id, null);
    else this.own.delete(id);
  }

  /** Every member held. */
  *all(): IterableIterator<Readonly<Member>> {
    for (const [id, b] of this.base.byId) if (!this.own.has(id)) yield b;
    for (const o of this.own.values()) if (o !== null) yield o;
  }

  /** Ids of members in state dead or left. */
  inactiveIds(): ReadonlySet<string> {
    return this.gone;
  }

  /** The members root: 16 hex digits over the ids of active members. */
  root(): string {
    return (
      (this.rootHi >>> 0).toString(16).padStart(8, '0') +
      (this.rootLo >>> 0).toString(16).padStart(8, '0')
    );
  }

  /**
   * The ids to pick from, as two arrays (they may list inactive or forgotten
   * members: callers check with `get`). Compacted when more than half is stale,
   * so rejection sampling stays cheap.
   */
  pickLists(): [readonly string[], readonly string[]] {
    const listed = this.pickBase.length + this.pickExtra.length;
    if (listed > 16 && this.active * 2 < listed) this.compact();
    return [this.pickBase, this.pickExtra];
  }

  private compact(): void {
    const ids: string[] = [];
    for (const m of this.all()) if (isActive(m.state)) ids.push(m.id);
    ids.sort();
    this.pickBase = [];
    this.pickExtra = ids;
    this.extraListed.clear();
    for (const id of ids) this.extraListed.add(id);
    this.generation++;
  }

  private account(id: string, from: MemberState | undefined, to: MemberState | undefined): void {
    const was = from !== undefined && isActive(from);
    const is = to !== undefined && isActive(to);
    if (from !== undefined && !was) this.gone.delete(id);
    if (to !== undefined && !is) this.gone.add(id);
    if (was === is) return;
    this.active += is ? 1 : -1;
    const [h1, h2] = hash64(id);
    this.rootHi ^= h1;
    this.rootLo ^= h2;
    if (is) this.list(id);
  }

  /** Makes sure an active member is in a pick list (it stays listed until compaction). */
  private list(id: string): void {
    if (this.pickBase.length > 0 && this.base.byId.has(id)) return;
    if (this.extraListed.has(id)) return;
    this.extraListed.add(id);
    this.pickExtra.push(id);
  }
}
