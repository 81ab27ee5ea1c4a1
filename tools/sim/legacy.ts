import {
  encodeGossip,
  encodeLegacyProvider,
  formatLegacyInfoHash,
} from '../../agent/legacy/codec.js';
import type { InfoHashKey } from '../../agent/store/infohash.js';
import type { ProviderRecord } from '../../agent/store/record.js';
import { EventHeap, mulberry32 } from './heap.js';

/** What the legacy model reports. */
export interface LegacyFigures {
  /** Bytes one node sends per second pushing its whole store. */
  bytesPerAgentPerSecond: number;
  /** Seconds until 50/99/100 % hold a new announce (Infinity: never within the horizon). */
  informed: { p50: number; p99: number; p100: number; fraction: number };
}

/**
 * The legacy Go overlay on the same data: every node is bootstrapped to 3 random
 * others and pushes its WHOLE store to them every 8 s (one JSON gossip message
 * per info hash; bytes counted as the Go node writes them, TCP/IP excluded).
 * Nodes never learn about each other beyond their bootstrap list.
 */
export function simulateLegacy(
  n: number,
  store: Iterable<[InfoHashKey, readonly ProviderRecord[]]>,
  seed: number,
  latency: { min: number; max: number },
  loss: number,
  horizonMs: number,
): LegacyFigures {
  const PEERS = 3;
  const ROUND_MS = 8000;
  let storeBytes = 0;
  for (const [key, records] of store) {
    storeBytes += Buffer.byteLength(
      encodeGossip(formatLegacyInfoHash(key) ?? key, records.map(encodeLegacyProvider)),
    );
  }
  const random = mulberry32(seed ^ 0x5eed);
  const peers: number[][] = [];
  for (let i = 0; i < n; i++) {
    const p = new Set<number>();
    while (p.size < Math.min(PEERS, n - 1)) {
      const j = Math.floor(random() * n);
      if (j !== i) p.add(j);
    }
    peers.push([...p]);
  }
  // Dissemination of one new record: rounds start at a random phase per node.
  const informedAt = new Float64Array(n).fill(Infinity);
  const origin = Math.floor(random() * n);
  informedAt[origin] = 0;
  const heap = new EventHeap<{ node: number; deliver: boolean }>();
  for (let i = 0; i < n; i++) heap.push(random() * ROUND_MS, { node: i, deliver: false });
  for (;;) {
    const e = heap.pop();
    if (e === undefined || e.time > horizonMs) break;
    const { node, deliver } = e.item;
    if (deliver) {
      if (informedAt[node] === Infinity) informedAt[node] = e.time;
      continue;
    }
    if (informedAt[node] <= e.time) {
      for (const p of peers[node]) {
        if (random() < loss) continue; // one lost push: the next round repeats it
        heap.push(e.time + latency.min + random() * (latency.max - latency.min), {
          node: p,
          deliver: true,
        });
      }
    }
    heap.push(e.time + ROUND_MS, { node, deliver: false });
  }
  const times = [...informedAt].sort((a, b) => a - b);
  const at = (q: number): number => times[Math.min(n - 1, Math.ceil(q * n) - 1)] / 1000;
  return {
    bytesPerAgentPerSecond: (storeBytes * PEERS) / (ROUND_MS / 1000),
    informed: {
      p50: at(0.5),
      p99: at(0.99),
      p100: at(1),
      fraction: times.filter((t) => t !== Infinity).length / n,
    },
  };
}
