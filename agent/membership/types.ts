/**
 * Membership types shared by the SWIM state machine, the gossip node, the
 * transport conversion and the simulator. Pure data.
 */

/** A member's state. Ordered: on equal incarnations the later one wins. */
export type MemberState = 'alive' | 'suspect' | 'dead' | 'left';

/** The precedence of states at equal incarnation (SWIM §4.2, plus `left`). */
export const STATE_RANK: Readonly<Record<MemberState, number>> = Object.freeze({
  alive: 0,
  suspect: 1,
  dead: 2,
  left: 3,
});

/** One membership fact, as gossip and anti-entropy carry it. */
export interface MemberUpdate {
  readonly id: string;
  readonly addr: string;
  readonly state: MemberState;
  /** Only the member itself raises it (to refute, or after a restart). */
  readonly incarnation: number;
  /** For `suspect`: who suspects it (Lifeguard counts independent reporters). */
  readonly reporter: string;
}

/** A member as one agent sees it. */
export interface Member {
  readonly id: string;
  addr: string;
  state: MemberState;
  incarnation: number;
  /** When it entered its current state (local clock, ms). */
  stateSince: number;
  /** When this agent last heard from or about it (local clock, ms). */
  lastHeard: number;
}

/** The entry of a member first learned (from `u`) at `now`: it entered its state and was heard of then. */
export function memberFromUpdate(u: MemberUpdate, now: number): Member {
  return {
    id: u.id,
    addr: u.addr,
    state: u.state,
    incarnation: u.incarnation,
    stateSince: now,
    lastHeard: now,
  };
}

/**
 * Whether update (inc, state) supersedes what is held (curInc, curState): greater
 * incarnation, or equal incarnation and a later state. A total order on
 * (incarnation, rank), so every agent applying the same updates in any order ends
 * in the same view.
 */
export function supersedes(
  inc: number,
  state: MemberState,
  curInc: number,
  curState: MemberState,
): boolean {
  if (inc !== curInc) return inc > curInc;
  return STATE_RANK[state] > STATE_RANK[curState];
}

/** Whether a member in this state is probed and gossiped to. */
export function isActive(state: MemberState): boolean {
  return state === 'alive' || state === 'suspect';
}
