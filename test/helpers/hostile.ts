import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentClient } from '../../control/client.js';
import { ROOT } from './agent-process.js';
import type { Outsider } from './outsider.js';

/**
 * Helpers of the hostile-load tests: an attack from tools/hostile/attacks.ts run
 * inside an outsider host, the agent's resident memory, and Lookup latency seen
 * from loopback on a warm channel while the attack runs.
 */

/** The compiled attacker (Node builtins only, so it runs as is in the namespace). */
export const ATTACKS = join(ROOT, 'dist', 'tools', 'hostile', 'attacks.js');

/** Runs `attack` from the outsider against the agent's port for `seconds`; its JSON report. */
export async function runAttack(
  o: Outsider,
  attack: string,
  port: number,
  seconds: number,
  args: (string | number)[] = [],
): Promise<Record<string, unknown>> {
  const r = await o.run(
    process.execPath,
    [ATTACKS, attack, o.hostIp, String(port), String(seconds), ...args.map(String)],
    { timeoutMs: (seconds + 30) * 1000 },
  );
  if (r.code !== 0) throw new Error(`attack ${attack} failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

/** Resident memory of a process, MB (Linux /proc). */
export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? 0 : Number(m[1]) / 1024;
}

/** Samples `pid`'s RSS every 250 ms until `stop()`; `peak` is the highest seen. */
export function sampleRss(pid: number): { stop: () => number } {
  let peak = rssMb(pid);
  const t = setInterval(() => {
    try {
      peak = Math.max(peak, rssMb(pid));
    } catch {
      // The process is gone: keep what was seen.
    }
  }, 250);
  return {
    stop: () => {
      clearInterval(t);
      return peak;
    },
  };
}

/**
 * Times one Lookup every `everyMs` on `client`'s (warm) channel until `stop()`;
 * resolves with the latencies, ms. A failed call counts as 10 s.
 */
export function probeLookups(
  client: AgentClient,
  infoHash: Uint8Array,
  everyMs = 100,
): { stop: () => Promise<number[]> } {
  const lat: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const t = performance.now();
      try {
        await client.lookup(infoHash);
        lat.push(performance.now() - t);
      } catch {
        lat.push(10_000);
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return lat;
    },
  };
}

/** The `p` quantile (0..1) of `values`. */
export function quantile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
}
