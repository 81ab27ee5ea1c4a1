/**
 * Piece ↔ file mapping. Pure. A torrent's content is the concatenation of its files;
 * a piece (or block) at absolute offset [start, end) may span several files, including
 * zero-length ones, which are skipped.
 */
import type { TorrentFile } from './metainfo.js';

/** A run of bytes inside one file. */
export interface Segment {
  readonly fileIndex: number;
  /** Offset inside the file. */
  readonly fileOffset: number;
  /** Offset inside the caller's buffer (relative to the requested start). */
  readonly bufferOffset: number;
  readonly length: number;
}

/** Maps the absolute content range [start, start+length) to file segments, in order. */
export function mapRange(files: readonly TorrentFile[], start: number, length: number): Segment[] {
  const out: Segment[] = [];
  if (length <= 0) return out;
  const end = start + length;
  // Binary search the first file whose end is beyond `start`.
  let lo = 0;
  let hi = files.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const f = files[mid]!;
    if (f.offset + f.length <= start) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo; i < files.length; i++) {
    const f = files[i]!;
    if (f.offset >= end) break;
    if (f.length === 0) continue;
    const s = Math.max(start, f.offset);
    const e = Math.min(end, f.offset + f.length);
    if (e > s)
      out.push({ fileIndex: i, fileOffset: s - f.offset, bufferOffset: s - start, length: e - s });
  }
  return out;
}

/** Block size for requests: 16 KiB is what every client uses (BEP 3 "2^14"). */
export const BLOCK_SIZE = 16384;

/** Number of 16 KiB blocks in a piece of `size` bytes. */
export function blockCount(size: number): number {
  return Math.ceil(size / BLOCK_SIZE);
}
