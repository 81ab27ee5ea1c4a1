import { DEFAULT_MEMBERSHIP_OPTIONS, Membership, type ProbeSend } from './swim.js';
import type { MemberUpdate } from './types.js';

/**
 * Lifeguard local health (issue 17): an agent whose own probes fail — because it
 * is the slow one — probes and suspects more slowly; a helper that cannot reach
 * a target tells the requester so (nack), and a missing nack counts against the
 * requester's own health; good probes bring the score back down.
 */

const T0 = 1_800_000_000_000;
const alive = (id: string): MemberUpdate => ({
  id,
  addr: `${id}:6000`,
  state: 'alive',
  incarnation: 1,
  reporter: '',
});
const pings = (out: ProbeSend[]): ProbeSend[] =>
  out.filter((s) => s.body.type === 'ping' && s.reliable !== true);

describe('Lifeguard local health', () => {
  it('an agent whose probes go unanswered probes more slowly, and recovers with acks', () => {
    const m = new Membership('self', 'self:6000', T0, DEFAULT_MEMBERSHIP_OPTIONS, () => 0.5);
    for (const id of ['n1', 'n2', 'n3', 'n4']) m.apply(alive(id), T0);
    const sentAt: number[] = [];
    let now = T0;
    // 20 s in which nothing answers (this agent's own network or CPU is the problem).
    for (; now < T0 + 20_000; now += 10) {
      if (pings(m.tick(now)).length > 0) sentAt.push(now);
    }
    expect(m.health.score).toBeGreaterThan(3);
    const gaps = sentAt.slice(1).map((t, i) => t - sentAt[i]);
    // First probes a second apart, the last ones stretched by the health multiplier.
    expect(gaps[0]).toBeLessThanOrEqual(1010);
    expect(gaps[gaps.length - 1]).toBeGreaterThanOrEqual(3000);
    // Fewer probes, hence fewer suspicions raised, than the 20 a healthy agent sends.
    expect(sentAt.length).toBeLessThan(12);

    // Acks come back: every good probe lowers the score again.
    const before = m.health.score;
    // (They were declared dead meanwhile; they come back with a new incarnation.)
    for (const id of ['n1', 'n2', 'n3', 'n4']) m.apply({ ...alive(id), incarnation: 2 }, now);
    for (let i = 0; i < 40 && m.health.score > 0; i++) {
      now += 10;
      for (const s of pings(m.tick(now))) m.onAck({ seq: s.body.seq, target: s.body.target }, now);
      now += 10_000; // jump to the next probe
    }
    expect(before).toBeGreaterThan(0);
    expect(m.health.score).toBe(0);
  });

  it('a helper nacks a target that did not answer in time; a missing nack costs the requester', () => {
    const helper = new Membership('h', 'h:6000', T0);
    helper.apply(alive('t'), T0);
    const ping = helper.onPingReq(
      'req:6000',
      { seq: 7, target: 't', targetAddr: 't:6000', nack: true },
      T0,
    );
    expect(ping).toHaveLength(1);
    const at80 = T0 + Math.floor(0.8 * DEFAULT_MEMBERSHIP_OPTIONS.indirectTimeoutMs);
    expect(helper.tick(at80 - 1).some((s) => s.body.type === 'nack')).toBe(false);
    const nacks = helper.tick(at80).filter((s) => s.body.type === 'nack');
    expect(nacks).toEqual([{ to: 'req:6000', body: { type: 'nack', seq: 7, target: 't' } }]);

    // Requester side: the same failed probe with and without the helpers' nacks.
    const run = (withNacks: boolean): number => {
      const m = new Membership('r', 'r:6000', T0, DEFAULT_MEMBERSHIP_OPTIONS, () => 0.1);
      for (const id of ['a', 'b', 'c', 'd']) m.apply(alive(id), T0);
      let now = T0;
      for (; now < T0 + 3000; now += 10) {
        for (const s of m.tick(now)) {
          if (withNacks && s.body.type === 'ping-req')
            m.onNack({ seq: s.body.seq, target: s.body.target });
        }
        if (m.health.score > 0) break;
      }
      return m.health.score;
    };
    // A failed probe costs 1; each helper that did not nack costs 1 more.
    expect(run(true)).toBe(1);
    expect(run(false)).toBeGreaterThan(1);
  });
});
