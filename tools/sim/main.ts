import { Command } from 'commander';
import { DEFAULT_GOSSIP_OPTIONS } from '../../agent/gossip/node.js';
import { DEFAULT_MEMBERSHIP_OPTIONS } from '../../agent/membership/swim.js';
import type { ProviderRecord } from '../../agent/store/record.js';
import { Store } from '../../agent/store/store.js';
import {
  DATAGRAM_FRAMING_BYTES,
  FRAMING_BYTES,
  SimCluster,
  type NetworkOptions,
  type SimAgent,
} from './cluster.js';
import { mulberry32 } from './heap.js';
import { runBurst } from './burst.js';
import { simulateLegacy } from './legacy.js';

/**
 * `npm run sim -- --agents 1000 --loss 0.05 --latency 5-50ms --seed 1`
 *
 * Runs the agent's own GossipNode (SWIM membership + gossip + anti-entropy) for
 * N agents in virtual time over a lossy network and reports: how fast one
 * announce reaches everyone, how fast a killed agent is declared dead by all
 * (and any false `dead`), and steady-state bytes per agent with 1000 info
 * hashes × 20 providers, against the legacy full-push overlay on the same data.
 */

const START = 1_800_000_000_000;

interface Options {
  agents: number;
  loss: number;
  latency: NetworkOptions;
  seed: number;
  infoHashes: number;
  providers: number;
  observeMs: number;
}

interface Dissemination {
  p50: number;
  p99: number;
  p100: number;
  informed: number;
}

interface Detection {
  allDeadS: number;
  firstSuspectS: number;
  falseDead: number;
  falseDeadMembers: number;
  falseSuspect: number;
}

function quantile(sorted: number[], q: number, n: number): number {
  if (sorted.length < Math.ceil(q * n)) return Infinity;
  return sorted[Math.max(0, Math.ceil(q * n) - 1)];
}

function providersFor(
  i: number,
  count: number,
  lastSeen: number,
  origin: string,
): ProviderRecord[] {
  const out: ProviderRecord[] = [];
  for (let j = 0; j < count; j++) {
    out.push({
      addr: `192.168.${(i + j) % 250}.${(j * 7) % 250}:${6881 + j}`,
      peerId: `-BT0001-${String(i).padStart(6, '0')}${String(j).padStart(6, '0')}`.slice(0, 20),
      left: j % 3 === 0 ? 0 : 1_000_000 * j,
      lastSeen,
      origin,
      removed: false,
    });
  }
  return out;
}

function keyFor(i: number, random: () => number): string {
  let k = '';
  for (let b = 0; b < 20; b++)
    k += Math.floor(random() * 256)
      .toString(16)
      .padStart(2, '0');
  return i >= 0 ? k : k;
}

/** Announce spread and failure detection, with one store per agent. */
function runDynamics(o: Options, loss: number): { d: Dissemination; f: Detection } {
  const net = { ...o.latency, loss };
  const sim = new SimCluster(
    o.agents,
    START,
    o.seed,
    net,
    DEFAULT_GOSSIP_OPTIONS,
    DEFAULT_MEMBERSHIP_OPTIONS,
    () => new Store(),
  );
  const random = mulberry32(o.seed + 17);
  const key = keyFor(0, random);
  const informedAt = new Map<SimAgent, number>();
  let victim: SimAgent | undefined;
  const deadAt = new Map<SimAgent, number>();
  let firstSuspect = Infinity;
  let falseDead = 0;
  let falseSuspect = 0;
  const falseDeadMembers = new Set<string>();
  for (const a of sim.agents) {
    a.replica.onChange((k) => {
      if (k === key && !informedAt.has(a)) informedAt.set(a, sim.now);
    });
    a.node.membership.onChange = (m) => {
      if (victim !== undefined && m.id === victim.id) {
        if (m.state === 'suspect') firstSuspect = Math.min(firstSuspect, sim.now);
        if (m.state === 'dead' && !deadAt.has(a)) deadAt.set(a, sim.now);
      } else if (m.state === 'dead') {
        falseDead++;
        falseDeadMembers.add(m.id);
      } else if (m.state === 'suspect') falseSuspect++;
    };
  }
  sim.runUntil(START + 3000);

  // One announce on a random agent.
  const origin = sim.agents[Math.floor(random() * o.agents)];
  const t0 = sim.now;
  origin.replica.announce(key, { addr: '203.0.113.7:6881', peerId: '', left: 0 });
  sim.flush(origin);
  sim.runUntil(t0 + 10_000, () => informedAt.size === o.agents);
  const times = [...informedAt.values()].map((t) => (t - t0) / 1000).sort((a, b) => a - b);

  // kill -9 of another random agent.
  sim.runUntil(sim.now + 1000);
  do victim = sim.agents[Math.floor(random() * o.agents)];
  while (victim === origin);
  sim.kill(victim);
  const t1 = sim.now;
  sim.runUntil(t1 + 20_000, () => deadAt.size === o.agents - 1);
  const allDead = deadAt.size === o.agents - 1 ? Math.max(...deadAt.values()) : Infinity;
  // Keep running to catch false verdicts at this loss rate.
  sim.runUntil(sim.now + o.observeMs);
  return {
    d: {
      p50: quantile(times, 0.5, o.agents),
      p99: quantile(times, 0.99, o.agents),
      p100: quantile(times, 1, o.agents),
      informed: informedAt.size,
    },
    f: {
      allDeadS: (allDead - t1) / 1000,
      firstSuspectS: (firstSuspect - t1) / 1000,
      falseDead,
      falseDeadMembers: falseDeadMembers.size,
      falseSuspect,
    },
  };
}

/** Steady-state bytes with a full, converged store on every agent. */
function runSteady(o: Options): {
  bytesPerAgentS: number;
  legacy: ReturnType<typeof simulateLegacy>;
} {
  // Every agent holds the same converged records. To fit 10 000 agents in memory
  // they share one Store object; nothing may change it (asserted below).
  const shared = new Store();
  const random = mulberry32(o.seed + 99);
  for (let i = 0; i < o.infoHashes; i++) {
    const key = keyFor(i, random);
    for (const r of providersFor(i, o.providers, START, `n${i % o.agents}`))
      shared.merge(key, r, START);
  }
  const before = shared.digest(START + 60_000, 256).root;
  const sim = new SimCluster(
    o.agents,
    START,
    o.seed,
    { ...o.latency, loss: o.loss },
    DEFAULT_GOSSIP_OPTIONS,
    DEFAULT_MEMBERSHIP_OPTIONS,
    () => shared,
  );
  sim.runUntil(START + 3000);
  sim.countBytes = true;
  const measureMs = 20_000;
  sim.runUntil(START + 3000 + measureMs);
  let bytes = 0;
  for (const a of sim.agents) bytes += a.bytesSent;
  if (shared.digest(START + 60_000, 256).root !== before)
    throw new Error('steady state changed the store');
  const entries: [string, ProviderRecord[]][] = [];
  for (const k of shared.keys()) entries.push([k, shared.records(k, START)]);
  const legacy = simulateLegacy(
    o.agents,
    entries,
    o.seed,
    { min: o.latency.latencyMinMs, max: o.latency.latencyMaxMs },
    o.loss,
    120_000,
  );
  return { bytesPerAgentS: bytes / o.agents / (measureMs / 1000), legacy };
}

const fmt = (s: number): string => (Number.isFinite(s) ? `${s.toFixed(2)} s` : 'never');
const rounds = (s: number): string =>
  Number.isFinite(s)
    ? `${Math.ceil((s * 1000) / DEFAULT_GOSSIP_OPTIONS.gossipIntervalMs)} rounds`
    : '-';

function main(): void {
  const program = new Command('sim')
    .option('--agents <n>', 'simulated agents', '1000')
    .option('--loss <p>', 'message loss probability', '0.05')
    .option('--latency <range>', 'one-way latency range, e.g. 5-50ms', '5-50ms')
    .option('--seed <n>', 'random seed', '1')
    .option('--info-hashes <n>', 'info hashes in the steady-state store', '1000')
    .option('--providers <n>', 'providers per info hash', '20')
    .option('--observe <s>', 'extra seconds watched for false dead verdicts', '10')
    .option('--burst <n>', 'instead: a write burst of n records at one agent (issue 17)')
    .option('--burst-rate <n>', 'announces per second of the burst', '10000')
    .parse();
  const raw = program.opts<Record<string, string>>();
  const lat = /^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)(ms)?$/.exec(raw.latency);
  if (lat === null) throw new Error(`--latency: "${raw.latency}" is not like 5-50ms`);
  const o: Options = {
    agents: Number(raw.agents),
    loss: Number(raw.loss),
    latency: { loss: 0, latencyMinMs: Number(lat[1]), latencyMaxMs: Number(lat[2]) },
    seed: Number(raw.seed),
    infoHashes: Number(raw.infoHashes),
    providers: Number(raw.providers),
    observeMs: Number(raw.observe) * 1000,
  };
  if (!(o.agents >= 2) || !(o.loss >= 0 && o.loss < 1)) throw new Error('bad --agents or --loss');
  const started = performance.now();
  const out = (s: string): boolean => process.stdout.write(s + '\n');
  if (raw.burst !== undefined) {
    const n = Number(raw.burst);
    const rate = Number(raw.burstRate);
    if (!(n >= 1) || !(rate >= 1)) throw new Error('bad --burst or --burst-rate');
    const r = runBurst(o.agents, n, rate, { ...o.latency, loss: o.loss }, o.seed);
    out(
      `btoverlay sim burst: ${o.agents} agents, ${n} records at one agent at ${rate}/s, loss ${(o.loss * 100).toFixed(0)}%, latency ${o.latency.latencyMinMs}-${o.latency.latencyMaxMs} ms, seed ${o.seed}`,
    );
    out(
      `  burst lasted ${r.burstS.toFixed(1)} s; records missing (all agents) at its end: ${r.missingAtEnd}`,
    );
    out(`  all agents agree ${fmt(r.agreeS)} after the burst ended`);
    out(
      `  anti-entropy bytes: ${(r.repairBytes / 1e6).toFixed(1)} MB in all (${(r.repairBytes / o.agents / 1e3).toFixed(0)} kB per agent)`,
    );
    out(`  false suspect verdicts ${r.falseSuspect}, false dead ${r.falseDead}`);
    out(`real time ${((performance.now() - started) / 1000).toFixed(1)} s`);
    return;
  }
  out(
    `btoverlay sim: ${o.agents} agents, latency ${o.latency.latencyMinMs}-${o.latency.latencyMaxMs} ms, seed ${o.seed}`,
  );
  out(
    `defaults: gossip ${DEFAULT_GOSSIP_OPTIONS.gossipIntervalMs} ms x fanout ${DEFAULT_GOSSIP_OPTIONS.fanout}, probe ${DEFAULT_MEMBERSHIP_OPTIONS.probeIntervalMs} ms, suspicion ${DEFAULT_MEMBERSHIP_OPTIONS.suspicionMinMs}-${DEFAULT_MEMBERSHIP_OPTIONS.suspicionMaxMs} ms, anti-entropy ${DEFAULT_GOSSIP_OPTIONS.syncIntervalMs} ms`,
  );
  const losses = o.loss > 0 ? [0, o.loss] : [0];
  const results = losses.map((loss) => ({ loss, ...runDynamics(o, loss) }));
  out('');
  out(
    'loss   informed 50%          99%                   100%                  killed->dead by all  first suspect  false dead  false suspect',
  );
  for (const r of results) {
    out(
      [
        `${(r.loss * 100).toFixed(0)}%`.padEnd(6),
        `${fmt(r.d.p50)} (${rounds(r.d.p50)})`.padEnd(22),
        `${fmt(r.d.p99)} (${rounds(r.d.p99)})`.padEnd(22),
        `${fmt(r.d.p100)} (${rounds(r.d.p100)})`.padEnd(22),
        fmt(r.f.allDeadS).padEnd(21),
        fmt(r.f.firstSuspectS).padEnd(15),
        `${r.f.falseDead} (${r.f.falseDeadMembers} members)`.padEnd(12),
        String(r.f.falseSuspect),
      ].join(''),
    );
  }
  const steady = runSteady(o);
  const ratio = steady.legacy.bytesPerAgentPerSecond / steady.bytesPerAgentS;
  out('');
  out(
    `steady state, ${o.infoHashes} info hashes x ${o.providers} providers, loss ${(o.loss * 100).toFixed(0)}%:`,
  );
  out(
    `  gossip bytes per agent per second: ${steady.bytesPerAgentS.toFixed(0)} (protobuf + ${FRAMING_BYTES} B HTTP/2+gRPC framing per gRPC message, ${DATAGRAM_FRAMING_BYTES} B per UDP probe)`,
  );
  out(
    `  legacy full push bytes per agent per second: ${steady.legacy.bytesPerAgentPerSecond.toFixed(0)}`,
  );
  const li = steady.legacy.informed;
  out(
    `  legacy announce informed: 50% ${fmt(li.p50)}, 99% ${fmt(li.p99)}, 100% ${fmt(li.p100)} (${(li.fraction * 100).toFixed(1)}% within 120 s)`,
  );
  const realS = (performance.now() - started) / 1000;
  out('');
  const zero = results[0];
  const lossy = results.find((r) => r.loss > 0);
  const verdict = (ok: boolean, text: string): boolean => out(`${ok ? 'PASS' : 'FAIL'} ${text}`);
  verdict(zero.d.p100 <= 1.0, `0% loss: 100% informed in ${fmt(zero.d.p100)} (goal <= 1.0 s)`);
  if (lossy !== undefined)
    verdict(
      lossy.d.p100 <= 2.0,
      `${(lossy.loss * 100).toFixed(0)}% loss: 100% informed in ${fmt(lossy.d.p100)} (goal <= 2.0 s)`,
    );
  for (const r of results)
    verdict(
      r.f.allDeadS <= 5,
      `${(r.loss * 100).toFixed(0)}% loss: killed agent dead at every member in ${fmt(r.f.allDeadS)} (goal <= 5 s)`,
    );
  for (const r of results)
    verdict(
      r.f.falseDead === 0,
      `${(r.loss * 100).toFixed(0)}% loss: ${r.f.falseDead} false dead verdicts (goal 0)`,
    );
  verdict(ratio >= 50, `steady-state bytes: legacy/gossip = ${ratio.toFixed(0)}x (goal >= 50x)`);
  if (o.agents >= 10_000) verdict(realS < 120, `real time ${realS.toFixed(1)} s (goal < 120 s)`);
  else out(`real time ${realS.toFixed(1)} s`);
}

main();
