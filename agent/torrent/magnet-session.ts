/**
 * A torrent started from a magnet link: first the metadata phase (BEP 9, `MetadataFetcher`),
 * then, with the verified info dictionary, an ordinary `TorrentSession`. It has the
 * session's interface (start/stop/pause/resume/addPeers/acceptSocket/progress and its
 * events), so the CLI and the agent's torrent manager drive both alike; `onMetadata` is
 * called with the metainfo (and .torrent bytes to persist) when the fetch succeeds.
 *
 * Peers known at the handover (connected, discovered, given) become the download's
 * candidates; peers banned for bad metadata stay banned.
 */
import { EventEmitter } from 'node:events';
import type { Server, Socket } from 'node:net';
import { listenForPeers } from './listen.js';
import { MetainfoError } from './errors.js';
import type { Magnet } from './magnet.js';
import { MetadataFetcher } from './metadata-fetch.js';
import { torrentFromInfo, type Metainfo } from './metainfo.js';
import { parseMetainfoAsync } from './metainfo-worker.js';
import type { PeerAddr, PeerSource } from './peer-source.js';
import {
  createTorrentSession,
  makePeerId,
  type Progress,
  type TorrentSession,
  type TorrentSessionEvents,
  type TorrentSessionOptions,
} from './session.js';
import { TrackerClient } from './tracker.js';

export interface MagnetSessionOptions extends Omit<TorrentSessionOptions, 'metainfo' | 'banned'> {
  magnet: Magnet;
  /**
   * Called with the verified metainfo and its .torrent bytes before the download starts
   * (to persist them, or to check the file names against a policy). Throwing refuses
   * the torrent: the session emits `error` and does not download.
   */
  onMetadata?: (meta: Metainfo, torrent: Buffer) => void | Promise<void>;
}

/** Downloads a magnet link: metadata first, then the content. */
export class MagnetSession extends EventEmitter<TorrentSessionEvents> {
  readonly peerId: Buffer;
  private readonly fetcher: MetadataFetcher;
  private session: TorrentSession | null = null;
  private metainfo: Metainfo | null = null;
  private server: Server | null = null;
  private listenPort = 0;
  private timer: NodeJS.Timeout | null = null;
  private started = false;
  private stopped = false;
  private wantPaused: boolean;

  constructor(private readonly o: MagnetSessionOptions) {
    super();
    this.peerId = o.peerId ?? makePeerId();
    this.wantPaused = o.startPaused === true;
    const sources: PeerSource[] = [...(o.peerSources ?? [])];
    if (o.useTrackers !== false && sources.length === 0) {
      const t = new TrackerClient([o.magnet.trackers]);
      if (t.usable) sources.push(t);
    }
    this.fetcher = new MetadataFetcher({
      infoHash: o.magnet.infoHash,
      peerId: this.peerId,
      peers: [...o.magnet.peers, ...(o.peers ?? [])],
      sources,
      port: () => this.port,
      ...(o.localAddress ? { localAddress: o.localAddress } : {}),
      ...(o.now ? { now: o.now } : {}),
    });
    this.fetcher.on('peer-banned', (a) => this.emit('peer-banned', a));
    this.fetcher.on('metadata', (info) => void this.onInfo(info));
  }

  /** The magnet's info hash. */
  get infoHash(): Buffer {
    return this.o.magnet.infoHash;
  }

  /** The metainfo once fetched, else null. */
  get meta(): Metainfo | null {
    return this.metainfo;
  }

  /** The port we accept connections on (our listener or the shared one); 0 if none. */
  get port(): number {
    return this.listenPort || (this.o.sharedPort ?? 0);
  }

  /** True when every piece is verified. */
  get complete(): boolean {
    return this.session?.complete ?? false;
  }

  /** Starts listening (with `listen`) and fetching the metadata. */
  async start(): Promise<void> {
    if (this.started) throw new Error('session already started');
    this.started = true;
    if (this.o.listen) await this.listen(this.o.listen);
    if (this.stopped) return;
    this.fetcher.start(this.wantPaused);
    this.timer = setInterval(() => {
      if (this.session === null) this.emit('progress', this.progress());
    }, 1000);
    this.emit('progress', this.progress());
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.server?.close();
    this.server = null;
    await this.fetcher.stop(this.session === null);
    await this.session?.stop();
  }

  pause(): void {
    this.wantPaused = true;
    this.fetcher.pause();
    this.session?.pause();
  }

  resume(): void {
    this.wantPaused = false;
    this.fetcher.resume();
    this.session?.resume();
  }

  addPeers(addrs: readonly PeerAddr[]): void {
    if (this.session) this.session.addPeers(addrs);
    else this.fetcher.addPeers(addrs);
  }

  acceptSocket(socket: Socket, head?: Buffer): void {
    if (this.session) this.session.acceptSocket(socket, head);
    else this.fetcher.acceptSocket(socket, head);
  }

  /** The download's progress, or the metadata phase's (state `fetching-metadata`). */
  progress(): Progress {
    if (this.session) return this.session.progress();
    const f = this.fetcher.progress();
    return {
      state: this.stopped ? 'stopped' : this.wantPaused ? 'paused' : 'fetching-metadata',
      infoHash: this.o.magnet.infoHashHex,
      name: this.o.magnet.name,
      totalBytes: 0,
      verifiedBytes: 0,
      left: 0,
      piecesVerified: 0,
      pieceCount: 0,
      downloadRate: 0,
      uploadRate: 0,
      downloaded: 0,
      uploaded: 0,
      peers: f.peers,
      knownPeers: f.knownPeers,
      activePeers: f.metadataPeers,
      banned: f.banned,
      hashFailures: f.hashFailures,
      protocolErrors: f.protocolErrors,
      wasted: 0,
      metadata: f,
    };
  }

  private async onInfo(info: Buffer): Promise<void> {
    if (this.stopped) return;
    let meta: Metainfo;
    const torrent = torrentFromInfo(info, this.o.magnet.trackers);
    try {
      meta = await parseMetainfoAsync(torrent);
      await this.o.onMetadata?.(meta, torrent);
    } catch (e) {
      // Authentic (it hashed to the info hash) but unusable, or refused by the caller.
      const err = e as Error;
      this.emit(
        'error',
        e instanceof MetainfoError ? new MetainfoError(`metadata ${e.field}`, err.message) : err,
      );
      return;
    }
    if (this.stopped) return;
    this.metainfo = meta;
    const peers = this.fetcher.knownPeers();
    const banned = this.fetcher.bannedPeers();
    await this.fetcher.stop(false);
    if (this.stopped) return;
    // The magnet-only options stay here; every other option passes on to the session.
    // eslint-disable-next-line @typescript-eslint/no-unused-vars
    const { magnet: _m, onMetadata: _h, listen: _l, ...rest } = this.o;
    const session = createTorrentSession({
      ...rest,
      metainfo: meta,
      peerId: this.peerId,
      peers,
      banned,
      ...(this.port ? { sharedPort: this.port } : {}),
      startPaused: this.wantPaused,
    });
    this.session = session;
    session.on('progress', (p) => this.emit('progress', p));
    session.on('complete', () => this.emit('complete'));
    session.on('peer-banned', (a) => this.emit('peer-banned', a));
    session.on('error', (e) => this.emit('error', e));
    try {
      await session.start();
    } catch (e) {
      this.emit('error', e as Error);
    }
  }

  private async listen(a: PeerAddr): Promise<void> {
    const { server, port } = await listenForPeers(
      a,
      (s) => this.acceptSocket(s),
      (e) => this.emit('error', e),
    );
    this.server = server;
    this.listenPort = port;
  }
}

/** Creates a session for a magnet link; call `start()` to run it. */
export function createMagnetSession(o: MagnetSessionOptions): MagnetSession {
  return new MagnetSession(o);
}
