import { INCARNATION_AHEAD_S, INCARNATION_LIMIT, maxIncarnation } from './incarnation.js';
import { Membership } from './swim.js';
import type { MemberUpdate } from './types.js';

const T0 = 1_800_000_000_000;
const CAP = maxIncarnation(T0);

function pair(): [Membership, Membership] {
  const a = new Membership('a', '10.0.0.1:6000', T0, undefined, () => 0.5);
  const x = new Membership('x', '10.0.0.2:6000', T0, undefined, () => 0.5);
  a.apply({ ...x.takeBroadcasts(8)[0] }, T0);
  return [a, x];
}

const dead = (m: Membership, incarnation: number): MemberUpdate => ({
  id: m.self.id,
  addr: m.self.addr,
  state: 'dead',
  incarnation,
  reporter: 'mallory',
});

describe('incarnation cap', () => {
  it('is far below 2^53 and moves with the clock, one per second', () => {
    expect(INCARNATION_LIMIT).toBe(2 ** 32 - 1);
    expect(CAP).toBe(Math.floor(T0 / 1000) + INCARNATION_AHEAD_S);
    expect(maxIncarnation(T0 + 1000)).toBe(CAP + 1);
    expect(maxIncarnation(Number.MAX_SAFE_INTEGER)).toBe(INCARNATION_LIMIT);
  });

  it('drops and counts "X is dead at 2^53-1": neither X nor anyone else changes', () => {
    const [a, x] = pair();
    const before = x.self.incarnation;
    const poison = dead(x, Number.MAX_SAFE_INTEGER);
    expect(a.apply(poison, T0 + 10)).toBe('ignored');
    expect(a.get('x')).toMatchObject({ state: 'alive', incarnation: before });
    expect(x.apply(poison, T0 + 10)).toBe('ignored');
    expect(x.self.incarnation).toBe(before);
    expect(a.incarnationRefused + x.incarnationRefused).toBe(2);
    expect(a.apply(dead(x, CAP + 1), T0 + 10)).toBe('ignored');
  });

  it('at the cap: X is not raised past it, and refutes within a second, which every receiver accepts', () => {
    const [a, x] = pair();
    // The largest claim a receiver accepts now.
    const poison = dead(x, CAP);
    expect(a.apply(poison, T0)).toBe('changed');
    expect(a.get('x')!.state).toBe('dead');
    // X cannot answer CAP + 1 yet: it stays at or below the cap...
    expect(x.apply(poison, T0)).toBe('ignored');
    expect(x.self.incarnation).toBeLessThanOrEqual(CAP);
    x.tick(T0 + 999);
    expect(x.self.incarnation).toBeLessThanOrEqual(maxIncarnation(T0 + 999));
    // ...and wakes when the cap reaches it, then refutes.
    expect(x.nextWakeup()).toBeLessThanOrEqual(T0 + 1000);
    x.tick(T0 + 1000);
    expect(x.self.incarnation).toBe(CAP + 1);
    const refutation = x.takeBroadcasts(8).find((u) => u.id === 'x')!;
    expect(refutation).toMatchObject({ state: 'alive', incarnation: CAP + 1 });
    expect(a.apply(refutation, T0 + 1000)).toBe('changed');
    expect(a.get('x')).toMatchObject({ state: 'alive', incarnation: CAP + 1 });
  });

  it('below the cap a refutation is immediate, as before', () => {
    const [a, x] = pair();
    const accusation = dead(x, x.self.incarnation + 5);
    a.apply(accusation, T0);
    expect(x.apply(accusation, T0)).toBe('refuted');
    expect(x.self.incarnation).toBe(accusation.incarnation + 1);
  });
});
