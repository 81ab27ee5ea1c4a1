/**
 * Resume journal: the torrent's verified pieces, so a restart need not hash them again.
 *
 * File: MAGIC, the info hash, a state byte (CLEAN after an orderly close, else OPEN), then
 * append-only records (u32 BE index, u32 BE its complement: a zero-filled or torn tail
 * left by a power cut never parses as a record).
 *
 * Durability: a piece is appended only after its data was fdatasync'ed (`syncData`, one
 * call per batch of records, so the syncs do not collapse throughput), so a record on
 * disk names data on disk. The file is rewritten whole (agent/fs: temp, fsync, rename,
 * dir fsync) when opened (compacted, state OPEN), when a piece is dropped, and at close
 * (state CLEAN). Opened in state OPEN means the last run did not stop cleanly: the
 * session then re-verifies the listed pieces lazily (before serving one, and in the
 * background) instead of trusting them.
 */
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, write } from 'node:fs';
import { basename, join } from 'node:path';
import { removeStaleTempsSync, writeFileAtomic, writeFileAtomicSync } from '../fs/index.js';

const MAGIC_V1 = Buffer.from('BTORESM1', 'latin1');
const MAGIC = Buffer.from('BTORESM2', 'latin1');
const HEADER_V1 = MAGIC_V1.length + 20;
/** MAGIC, info hash, state byte, 3 bytes padding (records stay 4-aligned). */
const HEADER = MAGIC.length + 20 + 4;
const STATE_AT = MAGIC.length + 20;
const STATE_OPEN = 0;
const STATE_CLEAN = 1;
const RECORD = 8;

/** What `ResumeJournal.open` found. */
export interface OpenedJournal {
  readonly journal: ResumeJournal;
  /** Pieces the journal lists (ascending). */
  readonly verified: number[];
  /** True when the last run closed the journal in order (its pieces can be trusted). */
  readonly clean: boolean;
}

/** Options of `ResumeJournal.open`. */
export interface ResumeJournalOptions {
  /** Makes the data of every piece written so far durable (fdatasync); awaited before each batch of records. */
  readonly syncData?: () => Promise<void>;
  /** Least time between two `syncData` calls (DEFAULT_SYNC_INTERVAL_MS). */
  readonly syncIntervalMs?: number;
  /** A failed sync: its batch is not journalled (a restart re-checks those pieces). */
  readonly onError?: (err: Error) => void;
}

/**
 * Least time between two data syncs, ms. Back-to-back fdatasyncs during a fast download
 * keep a thread-pool thread and the disk's write cache busy for little gain: records
 * then lag their data by at most this (a crash in between loses only the records; the
 * pieces are re-hashed from disk at the next start).
 */
export const DEFAULT_SYNC_INTERVAL_MS = 250;

function encode(infoHash: Buffer, state: number, pieces: Iterable<number>): Buffer {
  const list = [...pieces].sort((a, b) => a - b);
  const body = Buffer.alloc(HEADER + RECORD * list.length);
  MAGIC.copy(body, 0);
  infoHash.copy(body, 8);
  body[STATE_AT] = state;
  list.forEach((i, k) => writeRecord(body, HEADER + RECORD * k, i));
  return body;
}

function writeRecord(b: Buffer, at: number, piece: number): void {
  b.writeUInt32BE(piece, at);
  b.writeUInt32BE(~piece >>> 0, at + 4);
}

/** Parses a journal file; undefined when it is not this torrent's. */
function decode(
  data: Buffer,
  infoHash: Buffer,
  pieceCount: number,
): { pieces: Set<number>; clean: boolean } | undefined {
  const pieces = new Set<number>();
  if (data.length >= HEADER && data.subarray(0, 8).equals(MAGIC)) {
    if (!data.subarray(8, 28).equals(infoHash)) return undefined;
    for (let p = HEADER; p + RECORD <= data.length; p += RECORD) {
      const i = data.readUInt32BE(p);
      if (data.readUInt32BE(p + 4) === ~i >>> 0 && i < pieceCount) pieces.add(i);
    }
    return { pieces, clean: data[STATE_AT] === STATE_CLEAN };
  }
  if (data.length >= HEADER_V1 && data.subarray(0, 8).equals(MAGIC_V1)) {
    // Written before data was synced: never trusted without a re-check.
    if (!data.subarray(8, HEADER_V1).equals(infoHash)) return undefined;
    for (let p = HEADER_V1; p + 4 <= data.length; p += 4) {
      const i = data.readUInt32BE(p);
      if (i < pieceCount) pieces.add(i);
    }
    return { pieces, clean: false };
  }
  return undefined;
}

/** Reads a journal file (for checks and tests); undefined when absent or not this torrent's. */
export function readResumeJournal(
  path: string,
  infoHash: Buffer,
  pieceCount: number,
): { pieces: Set<number>; clean: boolean } | undefined {
  try {
    return decode(readFileSync(path), infoHash, pieceCount);
  } catch {
    return undefined;
  }
}

export class ResumeJournal {
  private fd: number;
  private pending: number[] = [];
  private rewrite = false;
  private lastSync = 0;
  private writing: Promise<void> | null = null;

  private constructor(
    readonly path: string,
    private readonly infoHash: Buffer,
    fd: number,
    private readonly pieces: Set<number>,
    private readonly options: ResumeJournalOptions,
  ) {
    this.fd = fd;
  }

  /** Journal file path for a torrent under a state directory. */
  static pathFor(stateDir: string, infoHashHex: string): string {
    return join(stateDir, `${infoHashHex}.resume`);
  }

  /** Opens (compacting, marking OPEN) the journal; returns it and what it lists. */
  static open(
    stateDir: string,
    infoHash: Buffer,
    pieceCount: number,
    options: ResumeJournalOptions = {},
  ): OpenedJournal {
    mkdirSync(stateDir, { recursive: true });
    const path = ResumeJournal.pathFor(stateDir, infoHash.toString('hex'));
    // Only this torrent's session writes this journal: its temps are a crash's leftovers.
    removeStaleTempsSync(stateDir, basename(path));
    // No journal yet (or unreadable): start empty; the session re-checks what is on disk.
    const found = readResumeJournal(path, infoHash, pieceCount);
    const pieces = found?.pieces ?? new Set<number>();
    writeFileAtomicSync(path, encode(infoHash, STATE_OPEN, pieces));
    const fd = openSync(path, 'a');
    return {
      journal: new ResumeJournal(path, infoHash, fd, pieces, options),
      verified: [...pieces].sort((a, b) => a - b),
      clean: found?.clean ?? true,
    };
  }

  /** Records a verified piece whose data has been written (synced before it is appended). */
  record(piece: number): void {
    if (this.pieces.has(piece)) return;
    this.pieces.add(piece);
    this.pending.push(piece);
    if (!this.writing) this.writing = this.drain();
  }

  /** Forgets a piece (its data did not hash): the file is rewritten without it. */
  drop(piece: number): void {
    if (!this.pieces.delete(piece)) return;
    this.rewrite = true;
    if (!this.writing) this.writing = this.drain();
  }

  /** Whether the journal lists a piece. */
  has(piece: number): boolean {
    return this.pieces.has(piece);
  }

  private async drain(): Promise<void> {
    try {
      while ((this.pending.length > 0 || this.rewrite) && this.fd >= 0) {
        if (this.options.syncData) {
          const wait =
            this.lastSync + (this.options.syncIntervalMs ?? DEFAULT_SYNC_INTERVAL_MS) - Date.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait)); // a bigger batch
          this.lastSync = Date.now();
        }
        const batch = this.pending;
        this.pending = [];
        // Every piece in the batch finished its write before it was queued: one sync
        // covers them all (and whatever else was written meanwhile).
        try {
          await this.options.syncData?.();
        } catch (err) {
          for (const i of batch) this.pieces.delete(i);
          this.options.onError?.(err as Error);
          continue;
        }
        if (this.rewrite) {
          this.rewrite = false;
          await this.replace(STATE_OPEN); // lists the batch too
          continue;
        }
        const b = Buffer.allocUnsafe(RECORD * batch.length);
        batch.forEach((i, k) => writeRecord(b, RECORD * k, i));
        await new Promise<void>((res) => write(this.fd, b, 0, b.length, null, () => res()));
      }
    } finally {
      this.writing = null;
    }
  }

  /** Rewrites the whole file atomically and reopens it for appending. */
  private async replace(state: number): Promise<void> {
    await writeFileAtomic(this.path, encode(this.infoHash, state, this.pieces));
    closeSync(this.fd);
    this.fd = openSync(this.path, 'a');
  }

  /** Waits for queued records to reach the file. */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  /**
   * Closes the journal: removes it (`remove`), or marks it CLEAN so the next start trusts
   * its pieces. The caller has awaited every piece write it recorded.
   */
  async close(remove = false): Promise<void> {
    await this.flush();
    if (this.fd < 0) return;
    if (remove) {
      closeSync(this.fd);
      this.fd = -1;
      try {
        unlinkSync(this.path);
      } catch {
        // already gone
      }
      return;
    }
    await this.options.syncData?.();
    await this.replace(STATE_CLEAN);
    closeSync(this.fd);
    this.fd = -1;
  }
}
