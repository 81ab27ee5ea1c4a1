import { credentials } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ProviderSet } from '../../generated/btoverlay/v1/provider.js';
import { OverlayClient, type GossipResponse } from '../../generated/btoverlay/v1/overlay.js';
import { PACKAGE_ROOT } from '../../agent/paths.js';
import type { AgentClient } from '../../control/client.js';
import type { Outsider } from './netns.js';

/**
 * What the hostile-load tests and `npm run bench:hostile` measure with: an attack
 * from attacks.ts run inside an outsider host (netns.ts), the agent's resident
 * memory, and Lookup latency seen from loopback on a warm channel meanwhile.
 */

/** The compiled attacker (Node builtins only, so it runs as is in the namespace). */
export const ATTACKS = join(PACKAGE_ROOT, 'dist', 'tools', 'hostile', 'attacks.js');

/** Runs `attack` from the outsider against the agent's port for `seconds`; its JSON report. */
export async function runAttack(
  o: Outsider,
  attack: string,
  port: number,
  seconds: number,
  args: (string | number)[] = [],
  pinCpu?: number,
): Promise<Record<string, unknown>> {
  const argv = [ATTACKS, attack, o.hostIp, String(port), String(seconds), ...args.map(String)];
  // Pinned to one CPU (taskset) where asked, so the attacker and the agent do not share one.
  const r = await (pinCpu === undefined
    ? o.run(process.execPath, argv, { timeoutMs: (seconds + 30) * 1000 })
    : o.run('taskset', ['-c', String(pinCpu), process.execPath, ...argv], {
        timeoutMs: (seconds + 30) * 1000,
      }));
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

/**
 * Fills an unkeyed agent (`--no-cluster-key`, which accepts unsigned Overlay.Gossip)
 * with `n` providers, one per info hash, 5 000 a call: seconds where announcing
 * them one by one (each signed) takes minutes.
 */
export async function fillByGossip(addr: string, n: number): Promise<void> {
  const client = new OverlayClient(addr, credentials.createInsecure());
  const now = BigInt(Date.now());
  try {
    for (let from = 0; from < n; from += 5000) {
      const sets: ProviderSet[] = [];
      for (let i = from; i < Math.min(n, from + 5000); i++) {
        const infoHash = Buffer.alloc(20);
        infoHash.writeUInt32BE(0x600d, 0);
        infoHash.writeUInt32BE(i, 16);
        sets.push({
          infoHash,
          providers: [
            {
              addr: `198.18.${(i >> 16) & 255}.${(i >> 8) & 255}:${1024 + (i & 255)}`,
              peerId: Buffer.from('-HO0001-000000000000'),
              left: 0n,
              lastSeen: now,
              origin: 'fill',
              originKey: Buffer.alloc(0),
              signature: Buffer.alloc(0),
              removed: false,
            },
          ],
        });
      }
      const r = await new Promise<GossipResponse>((res, rej) =>
        client.gossip({ sender: 'fill', sets }, (e, v) => (e ? rej(e) : res(v))),
      );
      if (r.refused > 0) throw new Error(`the agent refused ${r.refused} records`);
    }
  } finally {
    client.close();
  }
}
