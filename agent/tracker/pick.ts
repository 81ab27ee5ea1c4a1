/**
 * The peers an announce hands out, picked in one pass over an info hash's
 * records: live seeders and leechers counted, and the `want` newest eligible
 * records kept in a bounded heap — O(n + want·log want) rather than sorting
 * every live provider on every announce. The result is exactly the first `want`
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
  const heap: ProviderRecord[] = [];
  // Backwards: the Store appends, so the newest records tend to be at the end and
  // the rest fail the one comparison with the heap's root.
  for (let i = records.length - 1; i >= 0; i--) {
    const r = records[i];
    if (r.removed) continue;
    if (r.left === 0) complete++;
    else incomplete++;
    if (want <= 0 || r.peerId === '' || r.addr === exclude) continue;
    if (heap.length < want) {
      heap.push(r);
      siftUp(heap, heap.length - 1);
    } else if (older(heap[0], r)) {
      heap[0] = r;
      siftDown(heap, 0);
    }
  }
  heap.sort(newestFirst);
  return { complete, incomplete, peers: heap };
}
