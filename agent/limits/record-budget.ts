/**
 * The default Store record budget (--max-records), sized from memory.
 *
 * `npm run bench:store` measures a signed provider record (64-byte signature, the
 * signer key interned) at ~277 bytes of heap; BYTES_PER_RECORD rounds it up to
 * 300. A quarter of the memory the agent may use goes to records: the rest is for
 * what scales with them (gossip queues, tracker swarm views, digests built during
 * anti-entropy, GC headroom) and everything else the agent does.
 *
 *   maxRecords = floor(min(V8 heap limit, total RAM) × RECORD_MEMORY_SHARE / BYTES_PER_RECORD)
 *
 * A default Node 20 heap limit of ~4 GiB gives ~3.6 M records; `--max-old-space-size`
 * raises it along with the heap.
 */
import { totalmem } from 'node:os';
import { getHeapStatistics } from 'node:v8';

/** Heap bytes of one signed record, rounded up from bench:store's ~277. */
export const BYTES_PER_RECORD = 300;
/** Share of the agent's memory given to records. */
export const RECORD_MEMORY_SHARE = 0.25;
/** Never below this (a tiny container still holds a useful cluster's records). */
const MIN_DEFAULT_RECORDS = 100_000;

/** The default budget for a process with this heap limit and this much RAM (bytes). */
export function defaultMaxRecords(
  heapLimit = getHeapStatistics().heap_size_limit,
  memory = totalmem(),
): number {
  const usable = Math.min(heapLimit, memory);
  return Math.max(
    MIN_DEFAULT_RECORDS,
    Math.floor((usable * RECORD_MEMORY_SHARE) / BYTES_PER_RECORD),
  );
}
