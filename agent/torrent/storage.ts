/**
 * Piece storage on the file system. Pieces map onto files across file boundaries
 * (`layout.ts`); reads and writes are positional, so the content is never held in memory
 * as a whole. File names were validated at parse time; we check again here that every
 * resolved path stays inside the data directory (defence in depth against traversal).
 */
import { mkdirSync, openSync, closeSync, statSync } from 'node:fs';
import { mkdir, open, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { createHash } from 'node:crypto';
import { StorageError } from './errors.js';
import { DirListing, mapInBatches } from './fs-batch.js';
import { mapRange } from './layout.js';
import { pieceHash, pieceSize, type Metainfo } from './metainfo.js';

/** Pieces kept in the read cache while seeding (consecutive requests hit the same piece). */
const READ_CACHE_PIECES = 16;

/** Resolves the on-disk paths of a torrent's files under `dir`, rejecting traversal. */
export function resolvePaths(m: Metainfo, dir: string): string[] {
  const base = resolve(dir);
  const root = m.multiFile ? join(base, m.name) : base;
  return m.files.map((f) => {
    // Plain components (what parseMetainfo lets through) need no normalising: a
    // concatenation is ~20 times cheaper than path.resolve, for up to 10 000 files.
    const p = f.path.every(plainComponent)
      ? (root.endsWith(sep) ? root : root + sep) + f.path.join(sep)
      : resolve(root, ...f.path);
    if (!p.startsWith(base + sep))
      throw new StorageError(`path escapes the data directory: ${f.path.join('/')}`);
    return p;
  });
}

/** A path component that `resolve` would leave as it is. */
function plainComponent(c: string): boolean {
  return c !== '' && c !== '.' && c !== '..' && !c.includes('/') && !c.includes('\\');
}

export interface StorageOptions {
  /** Create missing files and directories (downloading); otherwise files must exist (seeding). */
  create: boolean;
}

export class Storage {
  readonly paths: readonly string[];
  private readonly handles: (Promise<FileHandle> | null)[];
  /** Current size of each file at open time (to know which pieces may be on disk). */
  private readonly sizes: number[];
  private readonly cache = new Map<number, Promise<Buffer>>();
  /** Files written since the last `sync` (their data may be in the page cache only). */
  private readonly dirty = new Set<number>();
  /** Directories fsync'ed once this session (so the names of new files are durable). */
  private readonly syncedDirs = new Set<string>();

  /**
   * Opens a torrent's files without blocking the event loop: the per-file stat,
   * mkdir and create run asynchronously in bounded batches (`fs-batch.ts`), which
   * is what the agent does (a 10 000-file torrent is 10 000 syscalls or more).
   */
  static async open(meta: Metainfo, dir: string, opts: StorageOptions): Promise<Storage> {
    const paths = resolvePaths(meta, dir);
    const made = new Set<string>(); // directories created, shared by many files
    const listing = await DirListing.of(paths);
    const sizes = await mapInBatches(paths, async (p, i) => {
      const st = listing.absent(p)
        ? undefined
        : await stat(p).catch((e: NodeJS.ErrnoException) => {
            if (e.code !== 'ENOENT' && e.code !== 'ENOTDIR')
              throw new StorageError(`cannot stat ${p}: ${e.code ?? e.message}`);
            return undefined;
          });
      if (st !== undefined) {
        if (!st.isFile()) throw new StorageError(`not a regular file: ${p}`);
        return st.size;
      }
      if (!opts.create) throw new StorageError(`missing file ${p}`);
      const d = dirname(p);
      if (!made.has(d)) {
        await mkdir(d, { recursive: true });
        made.add(d);
      }
      // Zero-length files are complete as soon as they exist.
      if (meta.files[i]!.length === 0) await (await open(p, 'w')).close();
      return 0;
    });
    return new Storage(meta, dir, opts, sizes);
  }

  /** `sizes` from `Storage.open`; without them the files are checked synchronously (tools, tests). */
  constructor(
    readonly meta: Metainfo,
    dir: string,
    private readonly opts: StorageOptions,
    sizes?: number[],
  ) {
    this.paths = resolvePaths(meta, dir);
    this.handles = this.paths.map(() => null);
    this.sizes =
      sizes ??
      this.paths.map((p, i) => {
        try {
          const st = statSync(p);
          if (!st.isFile()) throw new StorageError(`not a regular file: ${p}`);
          return st.size;
        } catch (e) {
          if (e instanceof StorageError) throw e;
          if (!opts.create) throw new StorageError(`missing file ${p}`);
          mkdirSync(dirname(p), { recursive: true });
          // Zero-length files are complete as soon as they exist.
          if (meta.files[i]!.length === 0) closeSync(openSync(p, 'w'));
          return 0;
        }
      });
  }

  private handle(i: number): Promise<FileHandle> {
    let h = this.handles[i];
    if (!h) {
      // 'w+' only for files that were empty or absent at open time: nothing to lose.
      h = open(this.paths[i]!, this.opts.create ? (this.sizes[i]! > 0 ? 'r+' : 'w+') : 'r');
      h.catch(() => undefined);
      this.handles[i] = h;
    }
    return h;
  }

  /** True when every file region of piece i existed (with enough size) at open time. */
  mayHavePiece(i: number): boolean {
    const start = i * this.meta.pieceLength;
    return mapRange(this.meta.files, start, pieceSize(this.meta, i)).every(
      (s) => this.sizes[s.fileIndex]! >= s.fileOffset + s.length,
    );
  }

  /** Writes a whole verified piece. */
  async writePiece(i: number, data: Buffer): Promise<void> {
    const segs = mapRange(this.meta.files, i * this.meta.pieceLength, data.length);
    await Promise.all(
      segs.map(async (s) => {
        const fh = await this.handle(s.fileIndex);
        let done = 0;
        while (done < s.length) {
          const { bytesWritten } = await fh.write(
            data,
            s.bufferOffset + done,
            s.length - done,
            s.fileOffset + done,
          );
          done += bytesWritten;
        }
        this.dirty.add(s.fileIndex);
      }),
    ).catch((e: Error) => {
      throw new StorageError(`write piece ${i}: ${e.message}`);
    });
  }

  /**
   * fdatasync(2)s every file written since the last call, so every piece whose write
   * completed before it is on disk (a power cut cannot lose it). The resume journal calls
   * it once per batch of records, before appending them.
   */
  async sync(): Promise<void> {
    const files = [...this.dirty];
    this.dirty.clear();
    await Promise.all(
      files.map(async (f) => {
        try {
          await (await this.handle(f)).datasync();
          const dir = dirname(this.paths[f]!);
          if (!this.syncedDirs.has(dir)) {
            // A file created this session: its name must survive a power cut too.
            const dh = await open(dir, 'r');
            await dh.sync().finally(() => dh.close());
            this.syncedDirs.add(dir);
          }
        } catch (e) {
          this.dirty.add(f);
          throw new StorageError(`sync ${this.paths[f]}: ${(e as Error).message}`);
        }
      }),
    );
  }

  /** Forgets the cached copy of a piece (its data on disk was found wrong). */
  forget(i: number): void {
    this.cache.delete(i);
  }

  /** Reads [begin, begin+length) of piece i into `out` (or a new buffer). */
  async read(
    i: number,
    begin: number,
    length: number,
    out: Buffer = Buffer.allocUnsafe(length),
  ): Promise<Buffer> {
    const segs = mapRange(this.meta.files, i * this.meta.pieceLength + begin, length);
    await Promise.all(
      segs.map(async (s) => {
        const fh = await this.handle(s.fileIndex);
        let done = 0;
        while (done < s.length) {
          const { bytesRead } = await fh.read(
            out,
            s.bufferOffset + done,
            s.length - done,
            s.fileOffset + done,
          );
          if (bytesRead === 0) throw new StorageError(`short read in ${this.paths[s.fileIndex]}`);
          done += bytesRead;
        }
      }),
    ).catch((e: Error) => {
      throw e instanceof StorageError ? e : new StorageError(`read piece ${i}: ${e.message}`);
    });
    return out;
  }

  /** Reads a block for upload through a small whole-piece cache. */
  async readBlock(i: number, begin: number, length: number): Promise<Buffer> {
    let p = this.cache.get(i);
    if (!p) {
      p = this.read(i, 0, pieceSize(this.meta, i));
      this.cache.set(i, p);
      p.catch(() => this.cache.delete(i));
      if (this.cache.size > READ_CACHE_PIECES) this.cache.delete(this.cache.keys().next().value!);
    } else {
      // refresh LRU position
      this.cache.delete(i);
      this.cache.set(i, p);
    }
    const piece = await p;
    return piece.subarray(begin, begin + length);
  }

  /** Hashes piece i from disk and compares with the metainfo; false when absent or wrong. */
  async checkPiece(i: number, scratch?: Buffer): Promise<boolean> {
    if (!this.mayHavePiece(i)) return false;
    const size = pieceSize(this.meta, i);
    const buf =
      scratch && scratch.length >= size ? scratch.subarray(0, size) : Buffer.allocUnsafe(size);
    try {
      await this.read(i, 0, size, buf);
    } catch {
      return false;
    }
    return createHash('sha1').update(buf).digest().equals(pieceHash(this.meta, i));
  }

  async close(): Promise<void> {
    const hs = this.handles.filter((h): h is Promise<FileHandle> => h !== null);
    this.handles.fill(null);
    this.cache.clear();
    await Promise.all(hs.map((h) => h.then((fh) => fh.close()).catch(() => undefined)));
  }
}
