/**
 * The agent's torrents: one peer-wire engine session per torrent behind one shared
 * peer-wire listener, persisted in the data directory, discovered through the overlay
 * (the agent's own Replica), the torrent's trackers, or both.
 *
 * Lifecycle: `TorrentManager.start` loads what the data directory holds and resumes it;
 * `add`/`remove`/`pause`/`resume` change it; `stop` (agent shutdown) withdraws every
 * provider record first, then stops the sessions, so the tombstones spread while the
 * agent still gossips. Emits `update` (a TorrentView) at least once a second per running
 * torrent and on every state change, and `removed` when a torrent is removed.
 */
import { EventEmitter } from 'node:events';
import { rm, rmdir } from 'node:fs/promises';
import { dirname, resolve, sep } from 'node:path';
import type { Logger } from 'pino';
import { InvalidArgumentError, ResourceExhaustedError } from '../errors.js';
import type { Replica } from '../replica.js';
import { MagnetError, MetainfoError } from '../torrent/errors.js';
import { parseMagnet, type Magnet } from '../torrent/magnet.js';
import { createMagnetSession, type MagnetSession } from '../torrent/magnet-session.js';
import { MAX_METAINFO_BYTES, type Metainfo } from '../torrent/metainfo.js';
import { parseMetainfoAsync } from '../torrent/metainfo-worker.js';
import {
  createTorrentSession,
  makePeerId,
  type Progress,
  type TorrentSession,
} from '../torrent/session.js';
import { mapInBatches } from '../torrent/fs-batch.js';
import { resolvePaths } from '../torrent/storage.js';
import type { TorrentsConfig } from './config.js';
import { TorrentExistsError } from './errors.js';
import { resolveTorrentId } from './id.js';
import { discoveryTiming, OverlayDiscovery } from './overlay-discovery.js';
import { PeerListener } from './peer-listener.js';
import { checkFiles, resolveSaveDir } from './save-dir.js';
import { TorrentStateDir, type Discovery, type TorrentEntry } from './persist.js';

/** What a torrent is doing, as the API reports it. */
export type TorrentStateName =
  'fetching-metadata' | 'checking' | 'downloading' | 'seeding' | 'paused' | 'error';

/** A snapshot of one torrent for the API. Plain data. */
export interface TorrentView {
  readonly id: string;
  readonly infoHash: Buffer;
  readonly name: string;
  readonly state: TorrentStateName;
  readonly discovery: Discovery;
  readonly saveDir: string;
  readonly totalBytes: number;
  readonly verifiedBytes: number;
  readonly left: number;
  readonly piecesVerified: number;
  readonly pieceCount: number;
  readonly downloadRate: number;
  readonly uploadRate: number;
  readonly downloaded: number;
  readonly uploaded: number;
  readonly peers: number;
  readonly knownPeers: number;
  readonly error: string;
  readonly addedAt: number;
  readonly completedAt: number;
  /** "host:port" announced to the overlay; '' until the listener is bound. */
  readonly providerAddr: string;
  /** Added from a magnet link whose metadata has not arrived yet (size etc. are 0). */
  readonly metadataPending: boolean;
}

/** What `add` takes: a .torrent file's bytes or a magnet link (exactly one). */
export interface AddTorrentInput {
  /** The .torrent file's bytes (empty with `magnet`). */
  readonly torrent: Uint8Array;
  /** A magnet link (BEP 9); its metadata is fetched from peers. */
  readonly magnet?: string;
  /**
   * Save directory: relative to the download root, or absolute inside it (anywhere with
   * `--allow-any-save-dir`); '' = the download root.
   */
  readonly saveDir: string;
  /** Default overlay. */
  readonly discovery?: Discovery;
  readonly paused?: boolean;
}

/** Options of the manager. */
export interface TorrentManagerOptions {
  readonly replica: Replica;
  readonly config: TorrentsConfig;
  /** Host the peer-wire listener binds (the agent's listen host). */
  readonly bindHost: string;
  /** The Store's record TTL: re-announces happen well inside it. */
  readonly ttlMs: number;
  readonly log: Logger;
}

export interface TorrentManagerEvents {
  update: [TorrentView];
  removed: [TorrentView];
  /** The manager stopped (agent shutdown): watchers should end their streams. */
  closed: [];
}

interface Managed {
  readonly entry: TorrentEntry;
  /** Null until a magnet link's metadata has been fetched. */
  meta: Metainfo | null;
  /** The parsed magnet link, for a torrent added from one. */
  readonly magnet: Magnet | null;
  session: TorrentSession | MagnetSession | null;
  discovery: OverlayDiscovery | null;
  last: Progress | null;
  error: string;
}

/** A torrent as the manager first holds it: not started, no progress yet. */
function managed(entry: TorrentEntry, meta: Metainfo | null, magnet: Magnet | null): Managed {
  return { entry, meta, magnet, session: null, discovery: null, last: null, error: '' };
}

/**
 * Longest a shutdown waits for one session to stop (tracker `stopped` announces included):
 * short, so the agent's whole graceful stop fits its grace period. Whatever is cut off is
 * safe: verified pieces are on disk and unjournalled ones are re-hashed on the next start.
 */
const STOP_TIMEOUT_MS = 2000;

/** The agent's torrents. Create with `TorrentManager.start`. */
export class TorrentManager extends EventEmitter<TorrentManagerEvents> {
  /** One peer id for all torrents of this agent run (BEP 20 style, random). */
  readonly peerId: Buffer = makePeerId();
  private readonly torrents = new Map<string, Managed>();
  private readonly dir: TorrentStateDir;
  private listener: PeerListener | null = null;
  private listening: Promise<number> | null = null;
  private stopped = false;

  private constructor(private readonly o: TorrentManagerOptions) {
    super();
    this.setMaxListeners(0); // one listener per Watch stream; those are bounded by the service
    this.dir = new TorrentStateDir(o.config.dataDir);
  }

  /** Loads and resumes the torrents of the data directory. */
  static async start(o: TorrentManagerOptions): Promise<TorrentManager> {
    const m = new TorrentManager(o);
    // The data dir's LOCK is the Agent's, held since before anything was written here.
    if (!m.dir.hasTorrents()) return m;
    await m.ensureListener();
    for (const { entry, meta } of m.dir.load((file, err) =>
      o.log.warn({ file, err: err.message }, 'skipping unreadable torrent state'),
    )) {
      let magnet: Magnet | null = null;
      try {
        if (entry.magnet !== undefined) magnet = parseMagnet(entry.magnet);
      } catch (err) {
        o.log.warn({ file: entry.id, err: (err as Error).message }, 'skipping unreadable magnet');
        continue;
      }
      const t = managed(entry, meta, magnet);
      m.torrents.set(entry.id, t);
      try {
        // Re-judged on every start: the operator may have narrowed the policy since.
        await m.checkSaveDir(entry.saveDir, meta);
      } catch (err) {
        t.error = (err as Error).message;
        o.log.error({ info_hash: entry.id, err: t.error }, 'torrent not started');
        continue;
      }
      m.startSession(t);
    }
    o.log.info(
      { torrents: m.torrents.size, data_dir: o.config.dataDir, peer_port: m.listener?.port },
      'torrents resumed',
    );
    return m;
  }

  /** The bound peer-wire port; 0 until the first torrent. */
  get peerPort(): number {
    return this.listener?.port ?? 0;
  }

  /** Adds and starts a torrent. */
  async add(input: AddTorrentInput): Promise<TorrentView> {
    const link = input.magnet ?? '';
    if (input.torrent.length === 0 && link === '')
      throw new InvalidArgumentError('torrent', 'is required (or a magnet link)');
    if (input.torrent.length > 0 && link !== '')
      throw new InvalidArgumentError('magnet', 'give a .torrent or a magnet link, not both');
    if (input.torrent.length > MAX_METAINFO_BYTES)
      throw new InvalidArgumentError('torrent', `larger than ${MAX_METAINFO_BYTES} bytes`);
    let meta: Metainfo | null = null;
    let magnet: Magnet | null = null;
    try {
      if (link !== '') magnet = parseMagnet(link);
      else meta = await parseMetainfoAsync(input.torrent);
    } catch (e) {
      if (e instanceof MetainfoError) throw new InvalidArgumentError('torrent', e.message);
      if (e instanceof MagnetError) throw new InvalidArgumentError('magnet', e.message);
      throw e;
    }
    const discovery = input.discovery ?? 'overlay';
    if (meta) this.checkDiscovery(meta, discovery);
    else if (discovery !== 'overlay' && magnet!.trackers.length === 0)
      throw new InvalidArgumentError('discovery', 'the magnet link names no tracker (tr)');
    const saveDir = await this.checkSaveDir(input.saveDir, meta);
    const id = meta?.infoHashHex ?? magnet!.infoHashHex;
    if (this.torrents.has(id)) throw new TorrentExistsError(id);
    if (this.torrents.size >= this.o.config.maxTorrents)
      throw new ResourceExhaustedError(
        'max_torrents',
        `this agent runs its maximum of ${this.o.config.maxTorrents} torrents`,
      );
    await this.ensureListener();
    if (this.torrents.has(id)) throw new TorrentExistsError(id); // raced with another add
    const entry: TorrentEntry = {
      id,
      saveDir,
      discovery,
      paused: input.paused === true,
      addedAt: Date.now(),
      completedAt: 0,
      ...(magnet ? { magnet: link.trim() } : {}),
    };
    this.dir.create(entry, meta ? input.torrent : null);
    const t = managed(entry, meta, magnet);
    this.torrents.set(id, t);
    this.startSession(t);
    this.o.log.info(
      {
        info_hash: id,
        name: meta?.name ?? magnet!.name,
        discovery,
        save_dir: entry.saveDir,
        magnet: magnet !== null,
      },
      'torrent added',
    );
    return this.view(t);
  }

  /** Every torrent, oldest added first. */
  list(): TorrentView[] {
    return [...this.torrents.values()]
      .sort((a, b) => a.entry.addedAt - b.entry.addedAt)
      .map((t) => this.view(t));
  }

  /** One torrent by id or unique prefix. */
  get(id: string): TorrentView {
    return this.view(this.find(id));
  }

  /** Resolves an id or unique prefix to the full id. */
  resolveId(id: string): string {
    return this.find(id).entry.id;
  }

  /** Stops a torrent, tombstones its provider record and forgets it. */
  async remove(id: string, deleteData: boolean): Promise<TorrentView> {
    const t = this.find(id);
    this.torrents.delete(t.entry.id);
    t.discovery?.withdraw();
    await this.stopSession(t);
    this.dir.remove(t.entry.id);
    if (deleteData && t.meta) await deleteTorrentData(t.meta, t.entry.saveDir);
    const v = this.view(t);
    this.o.log.info({ info_hash: t.entry.id, delete_data: deleteData }, 'torrent removed');
    this.emit('removed', v);
    return v;
  }

  /** Pauses: no peers, no provider record, until `resume` (persisted). */
  pause(id: string): TorrentView {
    const t = this.find(id);
    if (!t.entry.paused) {
      t.entry.paused = true;
      this.dir.save(t.entry);
      t.session?.pause();
      t.discovery?.withdraw();
    }
    return this.changed(t);
  }

  /** Resumes a paused torrent, or restarts one stopped by an error. */
  async resume(id: string): Promise<TorrentView> {
    const t = this.find(id);
    if (t.error !== '') {
      // Before changing anything: the policy may have changed since the error.
      await this.checkSaveDir(t.entry.saveDir, t.meta);
      if (t.meta) this.checkDiscovery(t.meta, t.entry.discovery);
    }
    if (t.entry.paused) {
      t.entry.paused = false;
      this.dir.save(t.entry);
    }
    if (t.error !== '') {
      await this.stopSession(t);
      t.error = '';
      this.startSession(t);
    } else {
      t.session?.resume();
      t.discovery?.lookupSoon();
    }
    return this.changed(t);
  }

  /**
   * Shutdown: tombstones every provider record (while gossip still runs), then stops
   * the sessions (flushing resume journals) and the listener.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.emit('closed');
    for (const t of this.torrents.values()) t.discovery?.withdraw();
    await Promise.all([...this.torrents.values()].map((t) => this.stopSession(t)));
    this.listener?.close();
  }

  // ---- internals ------------------------------------------------------------------------

  /**
   * The absolute save directory for a requested one ('' = the download root), refused
   * with InvalidArgumentError('save_dir') when it or a symlink under it leads outside the
   * download root (unless the operator allows any directory). The torrent's files are
   * checked too once its metadata is known (a magnet link's: when it arrives).
   */
  private async checkSaveDir(requested: string, meta: Metainfo | null): Promise<string> {
    const policy = {
      root: this.o.config.downloadRoot,
      allowAny: this.o.config.allowAnySaveDir,
    };
    const dir = await resolveSaveDir(requested, policy);
    if (meta) await checkFiles(resolvePaths(meta, dir), policy);
    return dir;
  }

  /** A private torrent may only use its trackers; tracker discovery needs a tracker. */
  private checkDiscovery(meta: Metainfo, discovery: Discovery): void {
    if (meta.private && discovery !== 'tracker')
      throw new InvalidArgumentError(
        'discovery',
        'a private torrent (BEP 27) may only use its trackers: use discovery tracker',
      );
    if (discovery !== 'overlay' && meta.announceTiers.length === 0)
      throw new InvalidArgumentError('discovery', 'the torrent names no tracker');
  }

  /**
   * A magnet link's verified metadata: judged like an added .torrent (discovery policy,
   * file names against the download root), then kept in the data directory so a restart
   * does not fetch it again. Throwing puts the torrent in `error`.
   */
  private async onMetadata(t: Managed, meta: Metainfo, torrent: Buffer): Promise<void> {
    this.checkDiscovery(meta, t.entry.discovery);
    await this.checkSaveDir(t.entry.saveDir, meta);
    if (!this.torrents.has(t.entry.id)) return; // removed meanwhile
    this.dir.saveTorrent(t.entry.id, torrent);
    t.meta = meta;
    this.o.log.info(
      { info_hash: t.entry.id, name: meta.name, bytes: meta.totalLength },
      'torrent metadata fetched',
    );
  }

  private find(id: string): Managed {
    return this.torrents.get(resolveTorrentId(id, this.torrents.keys()))!;
  }

  private ensureListener(): Promise<number> {
    this.listening ??= (async () => {
      const l = new PeerListener({
        host: this.o.bindHost,
        port: this.o.config.peerPort,
        route: (infoHash, socket, head) => {
          const s = this.torrents.get(infoHash.toString('hex'))?.session;
          if (!s) return false;
          s.acceptSocket(socket, head);
          return true;
        },
      });
      const port = await l.listen();
      this.listener = l;
      this.o.log.info({ addr: `${this.o.bindHost}:${port}` }, 'peer-wire listening');
      return port;
    })();
    return this.listening.catch((err: Error) => {
      this.listening = null; // e.g. port in use: a later add may retry
      throw err;
    });
  }

  private providerAddr(): string {
    const h = this.o.config.advertiseHost;
    return this.peerPort ? `${h.includes(':') ? `[${h}]` : h}:${this.peerPort}` : '';
  }

  private startSession(t: Managed): void {
    const { entry, meta } = t;
    const bind = this.o.bindHost;
    const common = {
      dir: entry.saveDir,
      peerId: this.peerId,
      sharedPort: this.peerPort,
      ...(bind !== '0.0.0.0' && bind !== '::' ? { localAddress: bind } : {}),
      useTrackers: entry.discovery !== 'overlay',
      stateDir: this.dir.resumeDir,
      check: 'resume' as const,
      keepResumeState: true,
      startPaused: entry.paused,
    };
    const session = meta
      ? createTorrentSession({ ...common, metainfo: meta })
      : createMagnetSession({
          ...common,
          magnet: t.magnet!,
          onMetadata: (m, torrent) => this.onMetadata(t, m, torrent),
        });
    t.session = session;
    t.last = null;
    t.discovery =
      entry.discovery === 'tracker'
        ? null
        : new OverlayDiscovery(
            this.o.replica,
            entry.id,
            this.providerAddr(),
            this.peerId,
            discoveryTiming(this.o.ttlMs),
            (peers) => session.addPeers(peers),
          );
    session.on('progress', (p) => {
      if (t.session !== session) return;
      t.last = p;
      if (p.state === 'seeding' && p.left === 0 && t.entry.completedAt === 0) {
        t.entry.completedAt = Date.now();
        this.dir.save(t.entry);
        this.o.log.info({ info_hash: entry.id, name: p.name }, 'torrent complete');
      }
      this.tickDiscovery(t);
      this.emit('update', this.view(t));
    });
    session.on('error', (err) => this.fail(t, session, err));
    session.on('piece-dropped', (piece) =>
      this.o.log.warn(
        { info_hash: entry.id, piece },
        'journalled piece did not hash after an unclean stop: fetching it again',
      ),
    );
    session.start().then(
      () => this.changed(t),
      (err: Error) => this.fail(t, session, err),
    );
  }

  private tickDiscovery(t: Managed): void {
    const state = t.last?.state;
    const active =
      !this.stopped &&
      t.error === '' &&
      (state === 'downloading' || state === 'seeding' || state === 'fetching-metadata');
    try {
      // Before a magnet link's metadata: look providers up by info hash, announce nothing.
      const total = t.meta?.totalLength ?? 0;
      t.discovery?.tick(this.o.replica.now(), {
        active,
        left: t.last?.left ?? total,
        total,
        announce: t.meta !== null,
      });
    } catch (err) {
      // e.g. the Store's info-hash bound: the torrent still runs on other sources.
      this.o.log.warn(
        { info_hash: t.entry.id, err: (err as Error).message },
        'overlay announce failed',
      );
    }
  }

  private fail(t: Managed, session: TorrentSession | MagnetSession, err: Error): void {
    if (t.session !== session || this.stopped) return;
    t.error = err.message || err.name;
    t.discovery?.withdraw();
    this.o.log.error({ info_hash: t.entry.id, err: t.error }, 'torrent stopped by an error');
    void session.stop().catch(() => undefined);
    this.changed(t);
  }

  private async stopSession(t: Managed): Promise<void> {
    const s = t.session;
    if (!s) return;
    // Keep the last progress for the final view; the session object is done after this.
    t.last = s.progress();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      s.stop().catch(() => undefined),
      new Promise<void>((r) => (timer = setTimeout(r, STOP_TIMEOUT_MS))),
    ]);
    clearTimeout(timer);
  }

  /** Emits an update for a state change and returns the view. */
  private changed(t: Managed): TorrentView {
    if (t.session) {
      t.last = t.session.progress();
      this.tickDiscovery(t);
    }
    const v = this.view(t);
    if (this.torrents.has(t.entry.id)) this.emit('update', v);
    return v;
  }

  private view(t: Managed): TorrentView {
    const p = t.last;
    const { entry, meta } = t;
    let state: TorrentStateName;
    if (t.error !== '') state = 'error';
    else if (entry.paused) state = p?.state === 'checking' ? 'checking' : 'paused';
    else if (p?.state === 'fetching-metadata') state = 'fetching-metadata';
    else if (meta === null && (p === null || p.state === 'idle')) state = 'fetching-metadata';
    else if (p === null || p.state === 'idle' || p.state === 'checking') state = 'checking';
    else if (p.state === 'seeding') state = 'seeding';
    else if (p.state === 'downloading') state = 'downloading';
    else state = 'paused';
    const verified = p?.verifiedBytes ?? 0;
    const total = meta?.totalLength ?? 0;
    return {
      id: entry.id,
      infoHash: meta?.infoHash ?? t.magnet!.infoHash,
      name: meta?.name ?? t.magnet?.name ?? '',
      state,
      discovery: entry.discovery,
      saveDir: entry.saveDir,
      totalBytes: total,
      verifiedBytes: verified,
      left: total - verified,
      piecesVerified: p?.piecesVerified ?? 0,
      pieceCount: meta?.pieceCount ?? 0,
      downloadRate: p?.downloadRate ?? 0,
      uploadRate: p?.uploadRate ?? 0,
      downloaded: p?.downloaded ?? 0,
      uploaded: p?.uploaded ?? 0,
      peers: p?.peers ?? 0,
      knownPeers: p?.knownPeers ?? 0,
      error: t.error,
      addedAt: entry.addedAt,
      completedAt: entry.completedAt,
      providerAddr: t.discovery?.addr ?? this.providerAddr(),
      metadataPending: meta === null,
    };
  }
}

/**
 * Deletes the files a torrent names under its save directory, then the directories they
 * were in if that left them empty (never anything else: the save directory may be shared).
 */
export async function deleteTorrentData(meta: Metainfo, saveDir: string): Promise<void> {
  const base = resolve(saveDir);
  const dirs = new Set<string>();
  const paths = resolvePaths(meta, base);
  for (const p of paths) {
    for (let d = dirname(p); d.startsWith(base + sep); d = dirname(d)) dirs.add(d);
  }
  // Asynchronous and in bounded batches: up to 10 000 files must not hold the event loop.
  await mapInBatches(paths, (p) => rm(p, { force: true }));
  // Deepest first, so parents are empty by the time they are tried.
  for (const d of [...dirs].sort((a, b) => b.length - a.length)) {
    // Fails when not empty (other content) or already gone: both are fine.
    await rmdir(d).catch(() => undefined);
  }
}
