/**
 * The peers an announce hands out, picked in one pass over an info hash's
 * records: live seeders and leechers counted, and the `want` newest eligible
 * records kept — in order as they come when the records are in time order (the
 * Store appends, so that is the usual case: O(n), no sort), else in a bounded
 * heap, O(n + want·log want) — rather than sorting every live provider on every
 * announce. The result is exactly the first `want`
 * eligible records of the newest-first order (Store.lookup's order: last_seen
 * descending, ties by addr ascending). Pure.
 */
import type { ProviderRecord } from '../store/record.js';

/** What an announce reply says about a swarm. */
export interface Swarm {
  /** Live providers with left = 0 / left > 0 (tombstones not counted). */
  readonly complete: number;
  readonly incomplete: number;
  /** Newest first. */
  readonly peers: ProviderRecord[];
}

/** Newest-first order: last_seen descending, then addr ascending (as Store.lookup). */
export function newestFirst(a: ProviderRecord, b: ProviderRecord): number {
  if (a.lastSeen !== b.lastSeen) return b.lastSeen - a.lastSeen;
  return a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0;
}

/** Whether `a` comes strictly after `b` in newest-first order (is older). */
function older(a: ProviderRecord, b: ProviderRecord): boolean {
  return a.lastSeen < b.lastSeen || (a.lastSeen === b.lastSeen && a.addr > b.addr);
}

/** Restores the heap (oldest at the root) below `i`. */
function siftDown(heap: ProviderRecord[], i: number): void {
  const n = heap.length;
  const item = heap[i];
  for (;;) {
    const l = 2 * i + 1;
    if (l >= n) break;
    const r = l + 1;
    const c = r < n && older(heap[r], heap[l]) ? r : l;
    if (!older(heap[c], item)) break;
    heap[i] = heap[c];
    i = c;
  }
  heap[i] = item;
}

function siftUp(heap: ProviderRecord[], i: number): void {
  const item = heap[i];
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (!older(item, heap[p])) break;
    heap[i] = heap[p];
    i = p;
  }
  heap[i] = item;
}

/**
 * Counts the live records of `records` (unexpired ones, tombstones included, as
 * Store.records gives them) and picks up to `want` peers: records with a peer id
 * (legacy overlay nodes' own addresses have none) other than `exclude` (the
 * requester), newest first.
 */
export function pickPeers(
  records: readonly ProviderRecord[],
  want: number,
  exclude: string,
): Swarm {
  let complete = 0;
  let incomplete = 0;
  // Backwards: the Store appends, so the newest records tend to be at the end.
  // While they come newest first, `picked` is simply the answer in order and a
  // record older than its last entry is done with in one comparison; the first
  // record out of order turns `picked` into a heap (oldest at the root).
  const picked: ProviderRecord[] = [];
  let sorted = true;
  for (let i = records.length - 1; i >= 0; i--) {
    const r = records[i];
    if (r.removed) continue;
    if (r.left === 0) complete++;
    else incomplete++;
    if (want <= 0 || r.peerId === '' || r.addr === exclude) continue;
    if (sorted) {
      const n = picked.length;
      if (n === 0 || !older(picked[n - 1], r)) {
        if (n < want) picked.push(r);
        continue;
      }
      // Oldest first is a valid heap with the oldest at the root.
      picked.reverse();
      sorted = false;
    }
    if (picked.length < want) {
      picked.push(r);
      siftUp(picked, picked.length - 1);
    } else if (older(picked[0], r)) {
      picked[0] = r;
      siftDown(picked, 0);
    }
  }
  if (!sorted) picked.sort(newestFirst);
  return { complete, incomplete, peers: picked };
}
