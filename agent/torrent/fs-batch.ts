/**
 * File-system work over many files (a torrent's), done asynchronously in bounded
 * batches: at most `batch` operations in flight, so a 10 000-file torrent neither
 * blocks the event loop (sync calls would, for seconds) nor queues 10 000 requests
 * on libuv's 4-thread pool at once, ahead of every other file operation.
 */

/**
 * Operations in flight per batch: a multiple of libuv's default 4 threads, small
 * enough that other I/O (piece reads, state writes) waits at most one batch.
 */
export const FS_BATCH = 32;

/**
 * Maps `items` through `fn` with at most `batch` calls pending at a time, results in
 * order. Rejects with the first failure; calls already started finish, no new ones start.
 */
export async function mapInBatches<T, R>(
  items: readonly T[],
  fn: (item: T, index: number) => Promise<R>,
  batch = FS_BATCH,
): Promise<R[]> {
  if (!(batch >= 1)) throw new RangeError('batch must be at least 1');
  const out = new Array<R>(items.length);
  for (let start = 0; start < items.length; start += batch) {
    const end = Math.min(items.length, start + batch);
    const pending: Promise<void>[] = [];
    for (let i = start; i < end; i++) {
      pending.push(fn(items[i]!, i).then((r) => void (out[i] = r)));
    }
    await Promise.all(pending);
  }
  return out;
}
