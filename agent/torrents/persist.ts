/**
 * On-disk state of the agent's torrents, under `--data-dir`:
 *
 *   LOCK                      pid of the agent using the directory
 *   torrents/<hex>.torrent    the .torrent bytes as added (never re-encoded); for a magnet
 *                             link, written once its metadata is fetched and verified (BEP 9:
 *                             the raw info dictionary + the link's trackers), so a restart
 *                             does not fetch it again
 *   torrents/<hex>.json       settings: save dir, discovery, paused, timestamps, magnet link
 *   resume/<hex>.resume       the engine's verified-piece journal (agent/torrent/resume.ts)
 *   downloads/                default save directory
 *
 * Settings are written atomically (temp file + rename), so a crash leaves the old or the
 * new version, never a torn one. Nothing is created until the first torrent is added.
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { MAX_METAINFO_BYTES, parseMetainfo, type Metainfo } from '../torrent/metainfo.js';
import { DataDirLockedError } from './errors.js';

/** How a torrent finds peers. */
export type Discovery = 'overlay' | 'tracker' | 'both';
export const DISCOVERY_MODES: readonly Discovery[] = ['overlay', 'tracker', 'both'];

/** The persisted settings of one torrent. */
export interface TorrentEntry {
  /** Info hash, 40 lowercase hex digits. */
  readonly id: string;
  readonly saveDir: string;
  readonly discovery: Discovery;
  paused: boolean;
  readonly addedAt: number;
  completedAt: number;
  /** The magnet link it was added from (absent for a .torrent). */
  readonly magnet?: string;
}

/** A torrent loaded from disk; `meta` is null for a magnet link whose metadata is not in yet. */
export interface LoadedTorrent {
  entry: TorrentEntry;
  meta: Metainfo | null;
}

const FORMAT = 1;

/** The data directory's layout and its lock. */
export class TorrentStateDir {
  readonly torrentsDir: string;
  readonly resumeDir: string;
  readonly downloadsDir: string;
  private readonly lockPath: string;
  private locked = false;

  constructor(readonly root: string) {
    this.torrentsDir = join(root, 'torrents');
    this.resumeDir = join(root, 'resume');
    this.downloadsDir = join(root, 'downloads');
    this.lockPath = join(root, 'LOCK');
  }

  /** True when the directory holds torrent state (so it must be locked and loaded). */
  hasTorrents(): boolean {
    try {
      return readdirSync(this.torrentsDir).some((f) => f.endsWith('.json'));
    } catch {
      return false;
    }
  }

  /**
   * Takes the directory's lock (idempotent). A lock left by a dead process is taken over;
   * one held by a live process throws DataDirLockedError.
   */
  lock(): void {
    if (this.locked) return;
    mkdirSync(this.root, { recursive: true });
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(this.lockPath, 'wx');
        writeSync(fd, `${process.pid}\n`);
        closeSync(fd);
        this.locked = true;
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const pid = Number(readFileSync(this.lockPath, 'utf8').trim());
      if (pid === process.pid) {
        this.locked = true;
        return;
      }
      if (Number.isInteger(pid) && pid > 0 && alive(pid))
        throw new DataDirLockedError(this.root, pid);
      rmSync(this.lockPath, { force: true }); // stale: its agent is gone
    }
    throw new DataDirLockedError(this.root, -1);
  }

  /** Releases the lock if this process holds it. */
  unlock(): void {
    if (!this.locked) return;
    this.locked = false;
    try {
      if (Number(readFileSync(this.lockPath, 'utf8').trim()) === process.pid)
        rmSync(this.lockPath, { force: true });
    } catch {
      // already gone
    }
  }

  /**
   * Loads every persisted torrent. Entries that cannot be read (a torn write from another
   * version, a deleted .torrent) are reported through `onBad` and skipped, never fatal.
   */
  load(onBad: (file: string, err: Error) => void): LoadedTorrent[] {
    let files: string[];
    try {
      files = readdirSync(this.torrentsDir).filter((f) => /^[0-9a-f]{40}\.json$/.test(f));
    } catch {
      return [];
    }
    const out: LoadedTorrent[] = [];
    for (const f of files) {
      const id = f.slice(0, 40);
      try {
        const raw = JSON.parse(readFileSync(join(this.torrentsDir, f), 'utf8')) as Record<
          string,
          unknown
        >;
        const entry = parseEntry(id, raw);
        const path = join(this.torrentsDir, `${id}.torrent`);
        if (entry.magnet !== undefined && !existsSync(path)) {
          out.push({ entry, meta: null }); // the metadata is fetched again
          continue;
        }
        const data = readFileSync(path);
        if (data.length > MAX_METAINFO_BYTES) throw new Error('.torrent too large');
        const meta = parseMetainfo(data);
        if (meta.infoHashHex !== id) throw new Error('.torrent does not match its info hash');
        out.push({ entry, meta });
      } catch (e) {
        onBad(f, e as Error);
      }
    }
    return out.sort((a, b) => a.entry.addedAt - b.entry.addedAt);
  }

  /** Stores a new torrent's bytes (null: a magnet link without metadata yet) and settings. */
  create(entry: TorrentEntry, torrentBytes: Uint8Array | null): void {
    mkdirSync(this.torrentsDir, { recursive: true });
    if (torrentBytes !== null) this.saveTorrent(entry.id, torrentBytes);
    this.save(entry);
  }

  /** Stores a torrent's .torrent bytes (e.g. a magnet link's fetched metadata). */
  saveTorrent(id: string, torrentBytes: Uint8Array): void {
    mkdirSync(this.torrentsDir, { recursive: true });
    atomicWrite(join(this.torrentsDir, `${id}.torrent`), torrentBytes);
  }

  /** Rewrites a torrent's settings. */
  save(entry: TorrentEntry): void {
    const body = { format: FORMAT, ...entry };
    atomicWrite(join(this.torrentsDir, `${entry.id}.json`), JSON.stringify(body, null, 2) + '\n');
  }

  /** Forgets a torrent: settings, .torrent and resume journal. */
  remove(id: string): void {
    // Settings first: without them nothing is loaded, whatever else a crash leaves.
    rmSync(join(this.torrentsDir, `${id}.json`), { force: true });
    rmSync(join(this.torrentsDir, `${id}.torrent`), { force: true });
    rmSync(join(this.resumeDir, `${id}.resume`), { force: true });
  }

  /** True when a settings file for the id exists. */
  has(id: string): boolean {
    return existsSync(join(this.torrentsDir, `${id}.json`));
  }
}

function atomicWrite(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parseEntry(id: string, raw: Record<string, unknown>): TorrentEntry {
  const str = (k: string): string => {
    const v = raw[k];
    if (typeof v !== 'string') throw new Error(`${k} is not a string`);
    return v;
  };
  const num = (k: string): number => {
    const v = raw[k];
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${k} is not a number`);
    return v;
  };
  const discovery = str('discovery') as Discovery;
  if (!DISCOVERY_MODES.includes(discovery)) throw new Error(`bad discovery ${discovery}`);
  return {
    id,
    saveDir: str('saveDir'),
    discovery,
    paused: raw['paused'] === true,
    addedAt: num('addedAt'),
    completedAt: num('completedAt'),
    ...(raw['magnet'] === undefined ? {} : { magnet: str('magnet') }),
  };
}
