import type { DigestInfo, MemberInfo } from './client.js';

/**
 * Comparison of replicas for `btctl convergence` (pure): group agents by digest
 * root, take the largest group as the reference, and estimate how far each
 * other agent is from it.
 */

/** One agent's verdict. */
export interface AgentVerdict {
  nodeId: string;
  addr: string;
  /** "agrees", "differs" or "unreachable". */
  status: 'agrees' | 'differs' | 'unreachable';
  root: string;
  records: number;
  /** Buckets whose hash differs from the reference. */
  differingBuckets: number;
  /** Lower bound of records that differ: per differing bucket max(1, |count difference|). */
  differingRecords: number;
  error?: string;
}

/** The cluster-wide verdict. */
export interface ConvergenceReport {
  cutoff: number;
  /** Alive members asked. */
  asked: number;
  /** How many agree with the reference digest. */
  agree: number;
  converged: boolean;
  reference: string;
  agents: AgentVerdict[];
}

/** The cutoff btctl asks every agent to hash at: 2 s ahead, on a whole second. */
export function convergenceCutoff(now: number): number {
  return Math.ceil((now + 2000) / 1000) * 1000;
}

/** Compares the digests of the alive members (`results` in the same order as `members`). */
export function compareDigests(
  cutoff: number,
  members: readonly MemberInfo[],
  results: readonly (DigestInfo | Error)[],
  preferNode?: string,
): ConvergenceReport {
  const groups = new Map<string, number>();
  results.forEach((r) => {
    if (!(r instanceof Error)) groups.set(r.root, (groups.get(r.root) ?? 0) + 1);
  });
  let reference = '';
  let best = -1;
  for (const [root, n] of groups) {
    const preferred = results.some(
      (r, i) => !(r instanceof Error) && r.root === root && members[i].addr === preferNode,
    );
    if (n > best || (n === best && preferred)) {
      best = n;
      reference = root;
    }
  }
  const ref = results.find((r): r is DigestInfo => !(r instanceof Error) && r.root === reference);
  const agents: AgentVerdict[] = members.map((m, i) => {
    const r = results[i];
    if (r instanceof Error) {
      return {
        nodeId: m.nodeId,
        addr: m.addr,
        status: 'unreachable',
        root: '',
        records: 0,
        differingBuckets: 0,
        differingRecords: 0,
        error: r.message,
      };
    }
    let differingBuckets = 0;
    let differingRecords = 0;
    if (ref !== undefined && r.root !== reference) {
      for (let b = 0; b < Math.max(r.bucketHashes.length, ref.bucketHashes.length); b++) {
        if (r.bucketHashes[b] === ref.bucketHashes[b]) continue;
        differingBuckets++;
        differingRecords += Math.max(
          1,
          Math.abs((r.bucketCounts[b] ?? 0) - (ref.bucketCounts[b] ?? 0)),
        );
      }
    }
    return {
      nodeId: r.nodeId,
      addr: m.addr,
      status: r.root === reference ? 'agrees' : 'differs',
      root: r.root,
      records: r.records,
      differingBuckets,
      differingRecords,
    };
  });
  const agree = agents.filter((a) => a.status === 'agrees').length;
  return {
    cutoff,
    asked: members.length,
    agree,
    converged: members.length > 0 && agree === members.length,
    reference,
    agents,
  };
}
