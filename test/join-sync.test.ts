import { rmSync } from 'node:fs';
import { connect, type AgentClient } from '../control/client.js';
import { btctl, randomInfoHash, startAgent, type AgentProcess } from './helpers/agent-process.js';
import { keyedAgentFlags, randomClusterKeyFile, tempDir } from './helpers/security.js';

/**
 * A joining agent is complete before it says SERVING (issue 13): agent A holds
 * records, B joins through A and reports NOT_SERVING (gRPC health and
 * `btctl health`) until its first full pull is done, and the moment it says
 * SERVING every live record of A is answered by B. A lone agent serves at once,
 * and so does one whose bootstrap is not there.
 */

const hex = (s: string): Buffer => Buffer.from(s, 'hex');
const INFO_HASHES = 2000;
const PER_HASH = 5;

describe('join sync', () => {
  const dir = tempDir('join');
  const key = randomClusterKeyFile(dir);
  const agents: AgentProcess[] = [];
  const clients: AgentClient[] = [];
  const flags = (name: string): string[] => keyedAgentFlags(dir, key, name);
  const start = async (name: string, host: string, extra: string[] = []) => {
    const a = await startAgent([...flags(name), ...extra], { host });
    agents.push(a);
    const c = connect(a.addr, { timeoutMs: 5000 });
    clients.push(c);
    return { a, c };
  };

  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all(agents.map((a) => a.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('a joining agent is NOT_SERVING until it holds every live record of the member it joined', async () => {
    const { a: A, c: ca } = await start('ja', '127.0.0.71');
    // A lone first agent serves at once.
    expect(await ca.health()).toBe('SERVING');
    const hashes = Array.from({ length: INFO_HASHES }, () => randomInfoHash());
    const expected = new Map<string, Set<string>>();
    const jobs: (() => Promise<unknown>)[] = [];
    hashes.forEach((ih, i) => {
      const set = new Set<string>();
      expected.set(ih, set);
      for (let j = 0; j < PER_HASH; j++) {
        const addr = `10.7.${i % 250}.${j + 1}:${6000 + Math.floor(i / 250)}`;
        set.add(addr);
        jobs.push(() => ca.announce({ infoHash: hex(ih), addr, left: 0n }));
      }
    });
    for (let i = 0; i < jobs.length; i += 200)
      await Promise.all(jobs.slice(i, i + 200).map((j) => j()));

    const { a: B, c: cb } = await start('jb', '127.0.0.72', ['--bootstrap', A.addr]);
    const first = await cb.health();
    const cli = await btctl(['health', '--node', B.addr]);
    let state = await cb.health();
    while (state !== 'SERVING') {
      await new Promise((r) => setTimeout(r, 10));
      state = await cb.health();
    }
    // The moment B serves, every one of A's records is answered by B.
    let missing = 0;
    for (let i = 0; i < hashes.length; i += 100) {
      const found = await Promise.all(
        hashes.slice(i, i + 100).map(async (ih) => {
          const got = new Set((await cb.lookup(hex(ih), 100)).map((p) => p.addr));
          return [...expected.get(ih)!].filter((addr) => !got.has(addr)).length;
        }),
      );
      missing += found.reduce((x, y) => x + y, 0);
    }
    expect(first).toBe('NOT_SERVING');
    expect(cli.code).not.toBe(0);
    expect(missing).toBe(0);
    expect(B.logs.some((l) => l.msg === 'serving before the join sync ended')).toBe(false);
  }, 90_000);

  it('an agent whose bootstrap is not there serves at once', async () => {
    const started = Date.now();
    // A port nobody listens on: the join attempt is refused at once.
    const { c } = await start('jc', '127.0.0.73', ['--bootstrap', '127.0.0.74:9']);
    let state = await c.health();
    while (state !== 'SERVING' && Date.now() - started < 10_000) {
      await new Promise((r) => setTimeout(r, 20));
      state = await c.health();
    }
    expect(state).toBe('SERVING');
    // Far below --join-sync-timeout (30 s): it did not wait for the timeout.
    expect(Date.now() - started).toBeLessThan(8000);
  }, 30_000);
});
