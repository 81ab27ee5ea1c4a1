/**
 * Resume journal: an append-only file of verified piece indices (u32 BE), written after
 * the piece's data write completed, so after `kill -9` every index in it is on disk
 * (the page cache survives a process kill). On open it is compacted. Pieces missing from
 * the journal whose bytes exist on disk are re-hashed by the session (fast re-check), so
 * the small window between a data write and its journal append loses nothing either.
 */
import {
  mkdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
  openSync,
  closeSync,
  unlinkSync,
} from 'node:fs';
import { write } from 'node:fs';
import { join } from 'node:path';

const MAGIC = Buffer.from('BTORESM1', 'latin1');
const HEADER = MAGIC.length + 20;

export class ResumeJournal {
  private fd: number;
  private pending: number[] = [];
  private writing: Promise<void> | null = null;

  private constructor(
    readonly path: string,
    fd: number,
  ) {
    this.fd = fd;
  }

  /** Journal file path for a torrent under a state directory. */
  static pathFor(stateDir: string, infoHashHex: string): string {
    return join(stateDir, `${infoHashHex}.resume`);
  }

  /** Opens (compacting) the journal; returns it and the verified pieces it lists. */
  static open(
    stateDir: string,
    infoHash: Buffer,
    pieceCount: number,
  ): { journal: ResumeJournal; verified: number[] } {
    mkdirSync(stateDir, { recursive: true });
    const path = ResumeJournal.pathFor(stateDir, infoHash.toString('hex'));
    const verified = new Set<number>();
    try {
      const data = readFileSync(path);
      if (
        data.length >= HEADER &&
        data.subarray(0, 8).equals(MAGIC) &&
        data.subarray(8, HEADER).equals(infoHash)
      ) {
        for (let p = HEADER; p + 4 <= data.length; p += 4) {
          const i = data.readUInt32BE(p);
          if (i < pieceCount) verified.add(i);
        }
      }
    } catch {
      // no journal yet (or unreadable): start empty; the session re-checks what is on disk
    }
    const list = [...verified].sort((a, b) => a - b);
    const body = Buffer.alloc(HEADER + 4 * list.length);
    MAGIC.copy(body, 0);
    infoHash.copy(body, 8);
    list.forEach((i, k) => body.writeUInt32BE(i, HEADER + 4 * k));
    writeFileSync(path + '.tmp', body);
    renameSync(path + '.tmp', path);
    const fd = openSync(path, 'a');
    return { journal: new ResumeJournal(path, fd), verified: list };
  }

  /** Records a verified piece whose data has been written. */
  record(piece: number): void {
    this.pending.push(piece);
    if (!this.writing) this.writing = this.drain();
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0 && this.fd >= 0) {
      const batch = this.pending;
      this.pending = [];
      const b = Buffer.allocUnsafe(4 * batch.length);
      batch.forEach((i, k) => b.writeUInt32BE(i, 4 * k));
      await new Promise<void>((res) => write(this.fd, b, 0, b.length, null, () => res()));
    }
    this.writing = null;
  }

  /** Waits for queued records to reach the file. */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  async close(remove = false): Promise<void> {
    await this.flush();
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    if (remove) {
      try {
        unlinkSync(this.path);
      } catch {
        // already gone
      }
    }
  }
}
