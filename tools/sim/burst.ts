import { DEFAULT_GOSSIP_OPTIONS } from '../../agent/gossip/node.js';
import { DEFAULT_MEMBERSHIP_OPTIONS } from '../../agent/membership/swim.js';
import { Store } from '../../agent/store/store.js';
import { SimCluster, type NetworkOptions } from './cluster.js';
import { mulberry32 } from './heap.js';

/**
 * The write-burst scenario of issue 17 (`npm run sim -- --burst 100000`): one
 * agent takes `records` new announces at `rate` per second while the others
 * learn them by gossip (whose bounded queue overflows) and anti-entropy; then
 * the time until every agent's digest agrees, the records still missing when
 * the burst ended, the bytes spent on anti-entropy (sync messages, protobuf +
 * framing) and any false `dead` verdicts (every agent stays alive).
 */

export interface BurstResult {
  records: number;
  burstS: number;
  /** Seconds from the end of the burst until every agent agrees; Infinity if never. */
  agreeS: number;
  /** Sum over agents of records missing at the end of the burst. */
  missingAtEnd: number;
  repairBytes: number;
  falseDead: number;
  falseSuspect: number;
}

const START = 1_800_000_000_000;

export function runBurst(
  agents: number,
  records: number,
  rate: number,
  net: NetworkOptions,
  seed: number,
  limitS = 300,
): BurstResult {
  const sim = new SimCluster(
    agents,
    START,
    seed,
    net,
    DEFAULT_GOSSIP_OPTIONS,
    DEFAULT_MEMBERSHIP_OPTIONS,
    () => new Store({ ttlMs: 3_600_000 }),
  );
  let falseDead = 0;
  let falseSuspect = 0;
  for (const a of sim.agents) {
    a.node.membership.onChange = (m) => {
      if (m.state === 'dead') falseDead++;
      else if (m.state === 'suspect') falseSuspect++;
    };
  }
  sim.runUntil(START + 3000);
  sim.countSyncBytes = true;
  const random = mulberry32(seed + 5);
  const origin = sim.agents[Math.floor(random() * agents)];
  const stepMs = 10;
  const perStep = Math.max(1, Math.round((rate * stepMs) / 1000));
  const t0 = sim.now;
  for (let i = 0; i < records;) {
    for (let j = 0; j < perStep && i < records; j++, i++) {
      let key = '';
      for (let b = 0; b < 5; b++)
        key += Math.floor(random() * 2 ** 32)
          .toString(16)
          .padStart(8, '0');
      origin.replica.announce(key, {
        addr: `198.18.${(i >> 8) & 255}.${i & 255}:${6881 + (i >> 16)}`,
        peerId: '',
        left: 0,
      });
    }
    sim.flush(origin);
    sim.runUntil(sim.now + stepMs);
  }
  const ended = sim.now;
  const held = (): number[] => sim.agents.map((a) => a.replica.store.stats(sim.now).providers);
  const want = held()[origin.index];
  const missingAtEnd = held().reduce((n, h) => n + Math.max(0, want - h), 0);
  const agree = (): boolean => {
    // One fixed cutoff (every record is live then: TTL 1 h) lets unchanged stores reuse their digest.
    const cutoff = START + 1_800_000;
    const root = origin.replica.store.digest(cutoff, 256).root;
    return sim.agents.every((a) => a.replica.store.digest(cutoff, 256).root === root);
  };
  let agreeAt = Infinity;
  while (sim.now < ended + limitS * 1000) {
    if (agree()) {
      agreeAt = sim.now;
      break;
    }
    sim.runUntil(sim.now + 250);
  }
  return {
    records,
    burstS: (ended - t0) / 1000,
    agreeS: (agreeAt - ended) / 1000,
    missingAtEnd,
    repairBytes: sim.syncBytes,
    falseDead,
    falseSuspect,
  };
}
