/**
 * On-disk state of the agent's torrents, under `--data-dir`:
 *
 *   LOCK                      the agent using the directory (agent/fs/lock.ts), held by
 *                             the Agent for its whole life, taken before anything here
 *   torrents/<hex>.torrent    the .torrent bytes as added (never re-encoded); for a magnet
 *                             link, written once its metadata is fetched and verified (BEP 9:
 *                             the raw info dictionary + the link's trackers), so a restart
 *                             does not fetch it again
 *   torrents/<hex>.json       settings: save dir, discovery, paused, timestamps, magnet link
 *   resume/<hex>.resume       the engine's verified-piece journal (agent/torrent/resume.ts)
 *   downloads/                default save directory
 *
 * Settings and .torrent files are written atomically and durably (agent/fs/: temp file,
 * fsync, rename, directory fsync), so a crash or power cut leaves the old or the new
 * version, never a torn one; temps a crash left are removed at start (`removeStaleTemps`).
 * Nothing is created until the first torrent is added.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { removeStaleTempsSync, writeFileAtomicSync } from '../fs/index.js';
import { MAX_METAINFO_BYTES, parseMetainfo, type Metainfo } from '../torrent/metainfo.js';

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

/** The data directory's layout. */
export class TorrentStateDir {
  readonly torrentsDir: string;
  readonly resumeDir: string;
  readonly downloadsDir: string;

  constructor(readonly root: string) {
    this.torrentsDir = join(root, 'torrents');
    this.resumeDir = join(root, 'resume');
    this.downloadsDir = join(root, 'downloads');
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
   * Removes the temp files a crash left (settings, .torrent, resume journals). Call at
   * start with the data dir's LOCK held, so no live writer owns them. Returns their paths.
   */
  removeStaleTemps(): string[] {
    return [this.root, this.torrentsDir, this.resumeDir].flatMap((d) =>
      removeStaleTempsSync(d).map((n) => join(d, n)),
    );
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
    writeFileAtomicSync(join(this.torrentsDir, `${id}.torrent`), torrentBytes);
  }

  /** Rewrites a torrent's settings. */
  save(entry: TorrentEntry): void {
    const body = { format: FORMAT, ...entry };
    writeFileAtomicSync(
      join(this.torrentsDir, `${entry.id}.json`),
      JSON.stringify(body, null, 2) + '\n',
    );
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
