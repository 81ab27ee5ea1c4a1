import { connect, type AgentClient, type MemberInfo } from '../control/client.js';
import {
  btctl,
  eventually,
  randomInfoHash,
  startAgent,
  type AgentProcess,
} from './helpers/agent-process.js';

/**
 * Five real agents on 127.0.0.1-5: gossip spreads an announce to all, SWIM
 * notices a kill -9, a SIGSTOPped agent refutes its suspicion, and a graceful
 * stop spreads `left` and withdraws the agent's providers.
 */

const hex = (s: string): Buffer => Buffer.from(s, 'hex');

describe('gossip and membership among 5 real agents', () => {
  const agents: AgentProcess[] = [];
  const clients = new Map<AgentProcess, AgentClient>();
  const client = (a: AgentProcess): AgentClient => clients.get(a)!;
  const state = async (viewer: AgentProcess, id: string): Promise<MemberInfo | undefined> =>
    (await client(viewer).members()).find((m) => m.nodeId === id);
  const living = (): AgentProcess[] =>
    agents.filter((a) => a.child.exitCode === null && a.child.signalCode === null);

  beforeAll(async () => {
    const first = await startAgent(['--node-id', 'g1'], { host: '127.0.0.1' });
    agents.push(first);
    const rest = await Promise.all(
      [2, 3, 4, 5].map((i) =>
        startAgent(['--node-id', `g${i}`, '--bootstrap', first.addr], { host: `127.0.0.${i}` }),
      ),
    );
    agents.push(...rest);
    for (const a of agents) clients.set(a, connect(a.addr, { timeoutMs: 2000 }));
    // Everyone learns everyone from the one bootstrap agent.
    const joined = await eventually(async () => {
      for (const a of agents) {
        const alive = (await client(a).members()).filter((m) => m.state === 'alive');
        if (alive.length !== 5) return false;
      }
      return true;
    }, 10_000);
    expect(joined).toBe(true);
  });

  afterAll(async () => {
    for (const c of clients.values()) c.close();
    await Promise.all(agents.map((a) => a.stop()));
  });

  it('an announce on one agent is answered by all within 1 s, and btctl convergence exits 0', async () => {
    const ih = randomInfoHash();
    const started = Date.now();
    await client(agents[0]).announce({ infoHash: hex(ih), addr: '10.1.0.1:6881' });
    const everywhere = await eventually(
      async () => {
        for (const a of agents) {
          const ps = await client(a).lookup(hex(ih));
          if (!ps.some((p) => p.addr === '10.1.0.1:6881')) return false;
        }
        return true;
      },
      1000,
      5,
    );
    expect(everywhere).toBe(true);
    expect(Date.now() - started).toBeLessThanOrEqual(1000);

    const r = await btctl(['convergence', '--node', agents[2].addr, '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { converged: boolean; agree: number };
    expect(report).toMatchObject({ converged: true, agree: 5 });

    const m = await btctl(['members', '--node', agents[1].addr]);
    expect(m.code).toBe(0);
    for (let i = 1; i <= 5; i++) expect(m.stdout).toMatch(new RegExp(`g${i}.*alive`));
  });

  it('a SIGSTOPped agent is suspected, refutes after SIGCONT and ends alive; nothing is lost', async () => {
    const ih = randomInfoHash();
    await client(agents[3]).announce({ infoHash: hex(ih), addr: '10.1.0.4:6881' });
    const before = (await state(agents[0], 'g4'))!.incarnation;
    agents[3].child.kill('SIGSTOP');
    let suspected = false;
    try {
      suspected = await eventually(
        async () => {
          for (const a of [agents[0], agents[1], agents[2], agents[4]]) {
            if ((await state(a, 'g4'))?.state === 'suspect') return true;
          }
          return false;
        },
        8000,
        20,
      );
    } finally {
      agents[3].child.kill('SIGCONT');
    }
    expect(suspected).toBe(true);
    const refuted = await eventually(async () => {
      for (const a of agents) {
        const m = await state(a, 'g4');
        if (m?.state !== 'alive' || m.incarnation <= before) return false;
      }
      return true;
    }, 5000);
    expect(refuted).toBe(true);
    for (const a of agents) {
      expect((await client(a).lookup(hex(ih))).map((p) => p.addr)).toContain('10.1.0.4:6881');
    }
  });

  it('kill -9: the others mark it dead within 5 s, lookups keep working, convergence agrees', async () => {
    const ih = randomInfoHash();
    await client(agents[1]).announce({ infoHash: hex(ih), addr: '10.1.0.2:6881' });
    await eventually(async () => (await client(agents[4]).lookup(hex(ih))).length === 1, 2000);
    const victim = agents[4];
    victim.child.kill('SIGKILL');
    await victim.exited;
    const killedAt = Date.now();
    const others = living();
    const dead = await eventually(
      async () => {
        for (const a of others) if ((await state(a, 'g5'))?.state !== 'dead') return false;
        return true;
      },
      5000,
      20,
    );
    expect(dead).toBe(true);
    expect(Date.now() - killedAt).toBeLessThanOrEqual(5000);
    for (const a of others) {
      expect((await client(a).lookup(hex(ih))).map((p) => p.addr)).toEqual(['10.1.0.2:6881']);
    }
    const r = await btctl(['convergence', '--node', others[0].addr, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ converged: true, agree: 4 });
  });

  it('graceful stop: `left` everywhere and its providers gone from every lookup within 2 s', async () => {
    const ih = randomInfoHash();
    const leaver = agents[2];
    await client(leaver).announce({ infoHash: hex(ih), addr: '10.1.0.3:6881' });
    // An announce made elsewhere for the same torrent stays.
    await client(agents[0]).announce({ infoHash: hex(ih), addr: '10.1.0.9:6881' });
    const stayers = living().filter((a) => a !== leaver);
    await eventually(async () => {
      for (const a of stayers) if ((await client(a).lookup(hex(ih))).length !== 2) return false;
      return true;
    }, 2000);
    const stoppedAt = Date.now();
    const code = await leaver.stop();
    expect(code).toBe(0);
    const gone = await eventually(
      async () => {
        for (const a of stayers) {
          if ((await state(a, 'g3'))?.state !== 'left') return false;
          const addrs = (await client(a).lookup(hex(ih))).map((p) => p.addr);
          if (addrs.length !== 1 || addrs[0] !== '10.1.0.9:6881') return false;
        }
        return true;
      },
      2000,
      20,
    );
    expect(gone).toBe(true);
    expect(Date.now() - stoppedAt).toBeLessThanOrEqual(2000 + 1500); // + process exit
  });
});
