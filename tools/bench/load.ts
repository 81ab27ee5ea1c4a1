/**
 * `npm run bench:load` — replication under a sustained write load (issue 17).
 * N agents (--agents, default 5) in one keyed cluster on loopback; wrk drives
 * HTTP tracker announces at the first one (pinned with taskset to the last CPU
 * when there are several), stepped up by doubling its connections
 * (--steps, default 6: 1, 2, 4 … connections, --seconds per step, default 10).
 * Meanwhile the bench announces a fresh record over gRPC at the first agent
 * every 100 ms and times until a lookup on every other agent answers it. Per
 * step: the announce rate reached, the p50/p99 of that delay, suspect and dead
 * verdicts (false: every agent stays alive) per minute; after the last step,
 * the time until `btctl convergence` agrees. The table, then the highest rate
 * whose p99 stays within 1 s, then (last line) its ratio to a lone agent's
 * tracker rate measured in the same run with the same driver.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { PACKAGE_ROOT } from '../../agent/paths.js';
import { connect, type AgentClient } from '../../control/client.js';
import { runWrk, wrkAnnounceScript } from '../load/wrk-announce.js';
import { startListening, stopChild } from '../process.js';
import { numberOption } from './args.js';

const AGENTS = numberOption('--agents', 5);
const STEPS = numberOption('--steps', 6);
const SECONDS = numberOption('--seconds', 10);
const GOAL_MS = 1000;

const randomHash = (): string =>
  [...Array(40)].map(() => Math.floor(Math.random() * 16).toString(16)).join('');

interface Agent {
  child: ChildProcess;
  addr: string;
  verdicts: { state: string; at: number }[];
}

async function startAgent(
  work: string,
  name: string,
  host: string,
  extra: string[],
): Promise<Agent> {
  const c = await startListening([
    join(PACKAGE_ROOT, 'dist', 'agent', 'main.js'),
    'run',
    '--listen',
    `${host}:0`,
    '--log-level',
    'info',
    '--node-id',
    name,
    '--data-dir',
    join(work, name),
    '--peer-port',
    '0',
    ...extra,
  ]);
  const a: Agent = { child: c.child, addr: c.addr, verdicts: [] };
  createInterface({ input: c.child.stdout! }).on('line', (line) => {
    if (!line.includes('"member state"')) return;
    const state = /"state":"(\w+)"/.exec(line)?.[1];
    if (state === 'suspect' || state === 'dead') a.verdicts.push({ state, at: Date.now() });
  });
  return a;
}

/** Announces a fresh record at `first` every 100 ms until `stop`; delays until all others see it. */
async function probeVisibility(
  first: AgentClient,
  others: AgentClient[],
  stop: () => boolean,
): Promise<number[]> {
  const delays: number[] = [];
  const pending: Promise<void>[] = [];
  for (let i = 0; !stop(); i++) {
    const ih = Buffer.from(randomHash(), 'hex');
    const addr = `198.18.${(i >> 8) & 255}.${i & 255}:6881`;
    const t0 = Date.now();
    pending.push(
      (async () => {
        await first.announce({ infoHash: ih, addr, left: 0n });
        const seen = new Set<number>();
        while (seen.size < others.length && Date.now() - t0 < 10_000) {
          await Promise.all(
            others.map(async (c, k) => {
              if (seen.has(k)) return;
              if ((await c.lookup(ih, 10)).some((p) => p.addr === addr)) seen.add(k);
            }),
          );
          if (seen.size < others.length) await new Promise((r) => setTimeout(r, 20));
        }
        delays.push(seen.size === others.length ? Date.now() - t0 : Infinity);
      })().catch(() => void delays.push(Infinity)),
    );
    await new Promise((r) => setTimeout(r, 100));
  }
  await Promise.all(pending);
  return delays.sort((a, b) => a - b);
}

const q = (sorted: number[], p: number): number =>
  sorted.length === 0
    ? Infinity
    : sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
const ms = (x: number): string => (Number.isFinite(x) ? `${x} ms` : 'never');

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'bench-load-'));
  const children: ChildProcess[] = [];
  const cpus = availableParallelism();
  const wrkCpu = cpus > 1 ? cpus - 1 : undefined;
  try {
    const key = join(work, 'cluster.key');
    writeFileSync(key, execFileSync('openssl', ['rand', '-hex', '32']), { mode: 0o600 });
    const script = join(work, 'announce.lua');
    writeFileSync(script, wrkAnnounceScript(Array.from({ length: 1000 }, randomHash), 0));

    // A lone agent's tracker rate, same driver, for the ratio.
    const lone = await startAgent(work, 'lone', '127.0.0.40', ['--cluster-key', key]);
    children.push(lone.child);
    const loneRate = (
      await runWrk(`http://${lone.addr}/`, script, {
        threads: 1,
        connections: 32,
        seconds: SECONDS,
        cpu: wrkCpu,
      })
    ).requestsPerSec;
    await stopChild(lone.child);

    const agents: Agent[] = [];
    agents.push(await startAgent(work, 'a1', '127.0.0.41', ['--cluster-key', key]));
    for (let i = 2; i <= AGENTS; i++) {
      agents.push(
        await startAgent(work, `a${i}`, `127.0.0.${40 + i}`, [
          '--cluster-key',
          key,
          '--bootstrap',
          agents[0].addr,
        ]),
      );
    }
    children.push(...agents.map((a) => a.child));
    const clients = agents.map((a) => connect(a.addr, { timeoutMs: 5000 }));
    await new Promise((r) => setTimeout(r, 3000)); // membership settles
    console.log(
      `${AGENTS} agents, wrk (1 thread${wrkCpu === undefined ? '' : `, CPU ${wrkCpu}`}) announcing at a1; ` +
        `${SECONDS} s per step; lone agent: ${Math.round(loneRate)} announces/s`,
    );
    console.log('connections  announces/s  visible-everywhere p50     p99  suspect/min  dead/min');
    let best = 0;
    for (let s = 0; s < STEPS; s++) {
      const connections = 2 ** s;
      const since = Date.now();
      let done = false;
      const probe = probeVisibility(clients[0], clients.slice(1), () => done);
      const r = await runWrk(`http://${agents[0].addr}/`, script, {
        threads: 1,
        connections,
        seconds: SECONDS,
        cpu: wrkCpu,
      });
      done = true;
      const delays = await probe;
      const minutes = (Date.now() - since) / 60_000;
      const count = (state: string): number =>
        agents.reduce(
          (n, a) => n + a.verdicts.filter((v) => v.state === state && v.at >= since).length,
          0,
        );
      const p99 = q(delays, 0.99);
      if (p99 <= GOAL_MS) best = Math.max(best, r.requestsPerSec);
      console.log(
        [
          String(connections).padStart(11),
          Math.round(r.requestsPerSec).toString().padStart(12),
          ms(q(delays, 0.5)).padStart(21),
          ms(p99).padStart(8),
          (count('suspect') / minutes).toFixed(1).padStart(12),
          (count('dead') / minutes).toFixed(1).padStart(9),
        ].join(' '),
      );
    }
    const stopped = Date.now();
    const conv = execFileSync(
      process.execPath,
      [
        join(PACKAGE_ROOT, 'bin', 'btctl.js'),
        'convergence',
        '--node',
        agents[0].addr,
        '--watch',
        '--timeout',
        '120s',
      ],
      { encoding: 'utf8' },
    );
    const convergeMs = Date.now() - stopped;
    console.log(
      `converged ${(convergeMs / 1000).toFixed(1)} s after the load stopped (${conv.trim().split('\n').pop()})`,
    );
    console.log(
      `highest rate with p99 visible everywhere <= ${GOAL_MS} ms: ${Math.round(best)} announces/s`,
    );
    for (const c of clients) c.close();
    console.log(`ratio cluster/lone: ${(best / loneRate).toFixed(3)}`);
  } finally {
    await Promise.all(children.map((c) => stopChild(c)));
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
