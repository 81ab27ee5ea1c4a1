/**
 * `npm run bench:converge` — 20 real agent processes on loopback against 20
 * Serf agents (Debian `serf`, LAN profile) in the same run:
 *
 * - announce → all 20 answer: time from an Announce on one agent until every
 *   agent holds the record (each agent's 'record changed' debug log line, read
 *   as it is written; then a Lookup on every agent must return it), median of
 *   5. Serf: time from the origin agent logging its own `serf event` until the
 *   last agent logs it.
 * - kill -9 → dead by all: time until every other agent's member list says
 *   dead (ours: Control.Members; Serf: `serf members`, status failed).
 * - idle bytes/s per agent: every byte the cluster puts on the loopback
 *   interface (Ethernet + IP + TCP/UDP headers included) while nothing
 *   happens, divided by the agent count. To count only the cluster's traffic,
 *   the whole benchmark re-runs itself in a network namespace of its own (as
 *   root; otherwise the host's loopback counter is used and says so).
 *
 * Ratios ours/Serf are printed last. Flags: --agents N (20), --trials N (5),
 * --idle S (30: Serf's push-pull runs every 30 s).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { connect, type AgentClient } from '../../control/client.js';
import { PACKAGE_ROOT } from '../../agent/paths.js';
import { tempDir, writeClusterKey } from '../process.js';
import { numberOption } from './args.js';

const N = numberOption('--agents', 20);
const TRIALS = numberOption('--trials', 5);
const IDLE_S = numberOption('--idle', 30);
const NETNS_ENV = 'BTBENCH_CONVERGE_NETNS';
const BTAGENT = join(PACKAGE_ROOT, 'bin', 'btagent.js');
const PORT = 7400;
const SERF_PORT = 7946;
const SERF_RPC = 7373;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const out = (s: string): boolean => process.stdout.write(s + '\n');
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor((s.length - 1) / 2)];
};
const host = (i: number): string => `127.0.0.${i + 1}`;

/** Bytes sent on the loopback interface so far (this namespace's, when in one). */
function loBytes(): number {
  return Number(readFileSync('/sys/class/net/lo/statistics/tx_bytes', 'utf8').trim());
}

interface Proc {
  child: ChildProcess;
  /** Lines seen on stdout/stderr with the time each arrived. */
  onLine: ((line: string, at: number) => void)[];
}

function startProc(cmd: string, argv: string[]): Proc {
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  const p: Proc = { child, onLine: [] };
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => {
      const at = performance.now();
      for (const f of p.onLine) f(line, at);
    });
  }
  return p;
}

function waitLine(p: Proc, pred: (l: string) => boolean, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('timed out waiting for a log line')), timeoutMs);
    const f = (line: string, at: number): void => {
      if (!pred(line)) return;
      clearTimeout(t);
      p.onLine.splice(p.onLine.indexOf(f), 1);
      resolve(at);
    };
    p.onLine.push(f);
  });
}

async function until(fn: () => Promise<boolean>, timeoutMs: number, stepMs = 20): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    try {
      if (await fn()) return true;
    } catch {
      // not yet
    }
    await sleep(stepMs);
  }
  return false;
}

async function stopAll(procs: Proc[]): Promise<void> {
  await Promise.all(
    procs.map(
      (p) =>
        new Promise<void>((resolve) => {
          if (p.child.exitCode !== null || p.child.signalCode !== null) return resolve();
          p.child.once('exit', () => resolve());
          p.child.kill('SIGKILL');
        }),
    ),
  );
}

interface Figures {
  announceS: number[];
  deadS: number;
  idleBytesPerAgentS: number;
}

/** Measures idle traffic over IDLE_S seconds. */
async function idle(): Promise<number> {
  const b0 = loBytes();
  const t0 = performance.now();
  await sleep(IDLE_S * 1000);
  return (loBytes() - b0) / N / ((performance.now() - t0) / 1000);
}

async function ours(): Promise<Figures> {
  const procs: Proc[] = [];
  const addr = (i: number): string => `${host(i)}:${PORT}`;
  const work = tempDir('bench-converge-');
  const key = writeClusterKey(work);
  try {
    for (let i = 0; i < N; i++) {
      const p = startProc(process.execPath, [
        BTAGENT,
        'run',
        '--listen',
        addr(i),
        '--node-id',
        `c${i + 1}`,
        '--data-dir',
        join(work, `c${i + 1}`),
        '--cluster-key',
        key,
        // Debug logs carry 'record changed' lines: the moment each agent holds the record.
        '--log-level',
        'debug',
        ...(i === 0 ? [] : ['--bootstrap', addr(0)]),
      ]);
      procs.push(p);
      await waitLine(p, (l) => l.includes('"listening"'), 30_000);
    }
    const clients: AgentClient[] = procs.map((_, i) => connect(addr(i), { timeoutMs: 10_000 }));
    const joined = await until(async () => {
      for (const c of clients) {
        const alive = (await c.members()).filter((m) => m.state === 'alive').length;
        if (alive !== N) return false;
      }
      return true;
    }, 60_000);
    if (!joined) throw new Error('our agents did not all see each other within 60 s');
    await sleep(5000);
    const idleBytes = await idle();

    const announceS: number[] = [];
    for (let t = 0; t < TRIALS; t++) {
      const ih = randomBytes(20);
      const provider = `127.0.0.1:${20_000 + t}`;
      const origin = clients[(t * 7) % N];
      const seen = procs.map((p) =>
        waitLine(p, (l) => l.includes('"record changed"') && l.includes(provider), 10_000),
      );
      const t0 = performance.now();
      await origin.announce({ infoHash: ih, addr: provider });
      const times = await Promise.all(seen.map((x) => x.catch(() => Infinity)));
      // What users rely on: every agent's Lookup answers with it.
      let ok = Math.max(...times) < Infinity;
      for (const c of clients) ok &&= (await c.lookup(ih)).some((p) => p.addr === provider);
      announceS.push(ok ? (Math.max(...times) - t0) / 1000 : Infinity);
      await sleep(1000);
    }

    const victim = N - 1;
    const victimId = `c${victim + 1}`;
    const tk = performance.now();
    procs[victim].child.kill('SIGKILL');
    // Polled through Control.Members on every living agent, as a user would see it.
    const allDead = await until(
      async () => {
        const views = await Promise.all(
          clients.filter((_, i) => i !== victim).map((c) => c.members()),
        );
        return views.every((v) => v.find((m) => m.nodeId === victimId)?.state === 'dead');
      },
      30_000,
      25,
    );
    const deadS = allDead ? (performance.now() - tk) / 1000 : Infinity;
    for (const c of clients) c.close();
    return { announceS, deadS, idleBytesPerAgentS: idleBytes };
  } finally {
    await stopAll(procs);
  }
}

function serfMembers(i: number): { name: string; status: string }[] {
  const r = spawnSync('serf', ['members', `-rpc-addr=${host(i)}:${SERF_RPC}`, '-format=json'], {
    encoding: 'utf8',
    timeout: 5000,
  });
  if (r.status !== 0) throw new Error(`serf members failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { members: { name: string; status: string }[] }).members;
}

async function serfMembersAsync(i: number): Promise<{ name: string; status: string }[]> {
  return new Promise((resolve, reject) => {
    const c = spawn('serf', ['members', `-rpc-addr=${host(i)}:${SERF_RPC}`, '-format=json'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let s = '';
    c.stdout.on('data', (d: Buffer) => (s += d.toString()));
    c.once('exit', (code) => {
      if (code !== 0) return reject(new Error('serf members failed'));
      try {
        resolve((JSON.parse(s) as { members: { name: string; status: string }[] }).members);
      } catch (e) {
        reject(e as Error);
      }
    });
  });
}

async function serf(): Promise<Figures> {
  const procs: Proc[] = [];
  try {
    for (let i = 0; i < N; i++) {
      const p = startProc('serf', [
        'agent',
        `-node=s${i + 1}`,
        `-bind=${host(i)}:${SERF_PORT}`,
        `-rpc-addr=${host(i)}:${SERF_RPC}`,
        '-profile=lan',
        '-log-level=info',
        ...(i === 0 ? [] : [`-join=${host(0)}:${SERF_PORT}`]),
      ]);
      procs.push(p);
      await waitLine(p, (l) => l.includes('Serf agent running'), 30_000).catch(() => undefined);
    }
    const joined = await until(async () => {
      for (let i = 0; i < N; i++) {
        if (serfMembers(i).filter((m) => m.status === 'alive').length !== N) return false;
      }
      return true;
    }, 60_000);
    if (!joined) throw new Error('serf agents did not all see each other within 60 s');
    await sleep(5000);
    const idleBytes = await idle();

    const announceS: number[] = [];
    for (let t = 0; t < TRIALS; t++) {
      const name = `bench${t}${randomBytes(4).toString('hex')}`;
      const origin = (t * 7) % N;
      const seen = procs.map((p) =>
        waitLine(p, (l) => l.includes('Received event: user-event:') && l.includes(name), 10_000),
      );
      const r = spawnSync('serf', ['event', `-rpc-addr=${host(origin)}:${SERF_RPC}`, name, 'x'], {
        timeout: 5000,
      });
      if (r.status !== 0) throw new Error('serf event failed');
      const times = await Promise.all(seen.map((s) => s.catch(() => Infinity)));
      announceS.push((Math.max(...times) - times[origin]) / 1000);
      await sleep(1000);
    }

    const victim = N - 1;
    const victimName = `s${victim + 1}`;
    const tk = performance.now();
    procs[victim].child.kill('SIGKILL');
    const failed = new Array<boolean>(N).fill(false);
    failed[victim] = true;
    const allFailed = await until(
      async () => {
        await Promise.all(
          procs.map(async (_, i) => {
            if (failed[i]) return;
            const m = (await serfMembersAsync(i)).find((x) => x.name === victimName);
            failed[i] = m?.status === 'failed';
          }),
        );
        return failed.every(Boolean);
      },
      60_000,
      25,
    );
    return {
      announceS,
      deadS: allFailed ? (performance.now() - tk) / 1000 : Infinity,
      idleBytesPerAgentS: idleBytes,
    };
  } finally {
    await stopAll(procs);
  }
}

/** Re-runs this script inside a fresh network namespace; returns false when that is not possible. */
function inNetns(): boolean {
  if (process.env[NETNS_ENV] !== undefined) return false;
  const ns = `btbench${process.pid}`;
  if (spawnSync('ip', ['netns', 'add', ns]).status !== 0) return false;
  try {
    spawnSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    const r = spawnSync(
      'ip',
      ['netns', 'exec', ns, process.execPath, process.argv[1], ...process.argv.slice(2)],
      { stdio: 'inherit', env: { ...process.env, [NETNS_ENV]: ns } },
    );
    process.exitCode = r.status ?? 1;
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
  return true;
}

const fmt = (s: number): string => (Number.isFinite(s) ? `${s.toFixed(3)} s` : 'never');

async function main(): Promise<void> {
  if (inNetns()) return;
  const where =
    process.env[NETNS_ENV] !== undefined
      ? `network namespace ${process.env[NETNS_ENV]} (only this benchmark's traffic on its loopback)`
      : 'the host loopback (NOT isolated: other traffic on lo is counted too)';
  out(`bench:converge — ${N} agents each, in ${where}`);
  const haveSerf = spawnSync('serf', ['version']).status === 0;
  const a = await ours();
  out('');
  out(`btoverlay (${N} agents, defaults):`);
  out(
    `  announce -> all ${N} answer: ${a.announceS.map(fmt).join(', ')}; median ${fmt(median(a.announceS))}`,
  );
  out(`  kill -9 -> dead at all ${N - 1}: ${fmt(a.deadS)}`);
  out(`  idle bytes/s per agent: ${a.idleBytesPerAgentS.toFixed(0)}`);
  if (!haveSerf) {
    out('serf is not installed: no comparison (apt-get install serf)');
    return;
  }
  const s = await serf();
  out('');
  out(`serf (${N} agents, -profile=lan):`);
  out(
    `  user event -> all ${N}: ${s.announceS.map(fmt).join(', ')}; median ${fmt(median(s.announceS))}`,
  );
  out(`  kill -9 -> failed at all ${N - 1}: ${fmt(s.deadS)}`);
  out(`  idle bytes/s per agent: ${s.idleBytesPerAgentS.toFixed(0)}`);
  out('');
  const am = median(a.announceS);
  const sm = median(s.announceS);
  const verdict = (ok: boolean, text: string): boolean => out(`${ok ? 'PASS' : 'FAIL'} ${text}`);
  verdict(am <= 0.3, `announce -> all ${N}: ${fmt(am)} (goal <= 0.3 s)`);
  verdict(a.deadS <= 5, `kill -9 -> dead at all: ${fmt(a.deadS)} (goal <= 5 s)`);
  verdict(
    a.idleBytesPerAgentS <= 330,
    `idle: ${a.idleBytesPerAgentS.toFixed(0)} bytes/s per agent (goal <= 330)`,
  );
  out('');
  verdict(am / sm <= 1.0, `ratio announce ours/serf = ${(am / sm).toFixed(2)} (goal <= 1.0)`);
  verdict(
    a.deadS / s.deadS <= 0.75,
    `ratio dead ours/serf = ${(a.deadS / s.deadS).toFixed(2)} (goal <= 0.75)`,
  );
  out(`ratio idle bytes ours/serf = ${(a.idleBytesPerAgentS / s.idleBytesPerAgentS).toFixed(2)}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:converge failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
