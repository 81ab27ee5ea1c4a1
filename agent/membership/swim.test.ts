import { DEFAULT_MEMBERSHIP_OPTIONS, Membership } from './swim.js';
import { MemberBase, MemberTable } from './table.js';
import type { MemberUpdate } from './types.js';

const T0 = 1_800_000_000_000;
const alive = (id: string, incarnation = 1): MemberUpdate => ({
  id,
  addr: `10.0.0.${id.slice(1)}:6000`,
  state: 'alive',
  incarnation,
  reporter: '',
});

function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('MemberTable', () => {
  it('copies a shared base on write and keeps counts and root in step with a plain table', () => {
    const updates = ['n1', 'n2', 'n3', 'n4'].map((id) => alive(id));
    const base = new MemberBase(updates, T0);
    const shared = new MemberTable(base);
    const plain = new MemberTable();
    for (const u of updates) {
      plain.insert({ ...u, stateSince: T0, lastHeard: T0 });
    }
    expect(shared.root()).toBe(plain.root());
    expect(shared.activeCount).toBe(4);

    const m = shared.edit('n2')!;
    shared.setState(m, 'dead', 1);
    const p = plain.edit('n2')!;
    plain.setState(p, 'dead', 1);
    expect(shared.root()).toBe(plain.root());
    expect(shared.activeCount).toBe(3);
    expect([...shared.inactiveIds()]).toEqual(['n2']);
    // The base itself is untouched: another table sharing it still sees n2 alive.
    expect(new MemberTable(base).get('n2')!.state).toBe('alive');

    shared.delete('n2');
    expect(shared.get('n2')).toBeUndefined();
    expect(shared.size).toBe(3);
    expect([...shared.all()].map((x) => x.id).sort()).toEqual(['n1', 'n3', 'n4']);
  });
});

describe('Membership', () => {
  const N = 8;
  const ids = Array.from({ length: N }, (_, i) => `n${i + 1}`);
  const views = (): Membership[] => {
    const base = new MemberBase(
      ids.map((id) => alive(id, Math.floor(T0 / 1000))),
      T0,
    );
    return ids.map(
      (id, i) =>
        new Membership(
          id,
          `10.0.0.${i + 1}:6000`,
          T0,
          DEFAULT_MEMBERSHIP_OPTIONS,
          seeded(i + 1),
          base,
        ),
    );
  };

  it('probes every member exactly once per interval across the cluster, and each agent probes everyone within N-1 intervals', () => {
    const ms = views();
    const probedBy = new Map<string, Set<string>>(ms.map((m) => [m.self.id, new Set<string>()]));
    const interval = DEFAULT_MEMBERSHIP_OPTIONS.probeIntervalMs;
    for (let period = 1; period < N; period++) {
      const now = T0 + period * interval + 1;
      const targets: string[] = [];
      for (const m of ms) {
        for (const s of m.tick(now)) {
          if (s.body.type !== 'ping') continue;
          targets.push(s.body.target);
          probedBy.get(m.self.id)!.add(s.body.target);
          // Everyone answers: the probe completes.
          m.onAck({ seq: s.body.seq, target: s.body.target }, now + 5);
        }
      }
      expect([...targets].sort()).toEqual([...ids].sort());
    }
    for (const [id, set] of probedBy) {
      expect(set.size).toBe(N - 1);
      expect(set.has(id)).toBe(false);
    }
  });

  it('a suspected member refutes with a greater incarnation, which supersedes the suspicion', () => {
    const [a, b] = views();
    const inc = b.self.incarnation;
    const accusation: MemberUpdate = {
      id: b.self.id,
      addr: b.self.addr,
      state: 'suspect',
      incarnation: inc,
      reporter: a.self.id,
    };
    expect(a.apply(accusation, T0 + 10)).toBe('changed');
    expect(a.get(b.self.id)!.state).toBe('suspect');
    expect(b.apply(accusation, T0 + 10)).toBe('refuted');
    expect(b.self.incarnation).toBe(inc + 1);
    const refutation = b.takeBroadcasts(32).find((u) => u.id === b.self.id)!;
    expect(refutation).toMatchObject({ state: 'alive', incarnation: inc + 1 });
    expect(a.apply(refutation, T0 + 20)).toBe('changed');
    expect(a.get(b.self.id)!.state).toBe('alive');
    // Its suspicion timer no longer fires.
    a.tick(T0 + 60_000);
    expect(a.get(b.self.id)!.state).toBe('alive');
  });

  it('an unrefuted suspicion becomes dead after the Lifeguard timeout, sooner with confirmations', () => {
    const [a, b, c, d, e] = views();
    const suspect = (reporter: string): MemberUpdate => ({
      id: b.self.id,
      addr: b.self.addr,
      state: 'suspect',
      incarnation: b.self.incarnation,
      reporter,
    });
    a.apply(suspect(c.self.id), T0);
    a.tick(T0 + DEFAULT_MEMBERSHIP_OPTIONS.suspicionMaxMs - 1);
    expect(a.get(b.self.id)!.state).toBe('suspect');
    a.tick(T0 + DEFAULT_MEMBERSHIP_OPTIONS.suspicionMaxMs);
    expect(a.get(b.self.id)!.state).toBe('dead');

    // With K = 3 independent reporters, the minimum applies.
    e.apply(suspect(c.self.id), T0);
    e.apply(suspect(d.self.id), T0);
    e.apply(suspect(a.self.id), T0);
    e.apply(suspect('n8'), T0);
    e.tick(T0 + DEFAULT_MEMBERSHIP_OPTIONS.suspicionMinMs);
    expect(e.get(b.self.id)!.state).toBe('dead');
  });

  it('keeps its members root equal across agents holding the same live ids, whatever the incarnations', () => {
    const [a, b] = views();
    expect(a.membersRoot()).toBe(b.membersRoot());
    a.apply(alive('n3', Math.floor(T0 / 1000) + 5), T0);
    expect(a.membersRoot()).toBe(b.membersRoot());
    a.apply({ ...alive('n3', Math.floor(T0 / 1000) + 5), state: 'dead' }, T0);
    expect(a.membersRoot()).not.toBe(b.membersRoot());
  });
});
