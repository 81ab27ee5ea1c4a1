/**
 * A torrent session: downloads and/or seeds one torrent. This is the I/O driver that binds
 * the pure parts (wire codec, picker, choker) to sockets, timers and storage.
 *
 * Usage (see `createTorrentSession`):
 *
 *   const s = createTorrentSession({ metainfo, dir, peers: [{ host, port }] });
 *   s.on('progress', (p) => ...); s.on('complete', () => ...);
 *   await s.start();        // checks what is on disk, listens, announces, connects
 *   s.addPeers([...]);      // peers found later (overlay discovery, PEX-like sources)
 *   await s.stop();
 */
import { EventEmitter } from 'node:events';
import { createHash, randomBytes, type Hash } from 'node:crypto';
import net, { type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { listenForPeers } from './listen.js';
import { Bitfield } from './bitfield.js';
import { Choker, RECHOKE_INTERVAL_MS } from './choker.js';
import { StorageError, WireProtocolError } from './errors.js';
import { decodeExtendedHandshake, encodeExtendedHandshake } from './ext-handshake.js';
import { BLOCK_SIZE, blockCount } from './layout.js';
import { pieceHash, pieceSize, type Metainfo } from './metainfo.js';
import type { MetadataProgress } from './metadata-fetch.js';
import { PeerConnection, makeBlockKey, type UploadRequest } from './peer.js';
import { watchDial, type Candidate } from './dial.js';
import {
  AnnounceSchedule,
  formatPeerAddr,
  type AnnounceEvent,
  type PeerAddr,
  type PeerSource,
} from './peer-source.js';
import { PiecePicker, Received, type PickerPeer } from './picker.js';
import { ResumeJournal } from './resume.js';
import { SuspectPieces } from './reverify.js';
import { Storage } from './storage.js';
import { TrackerClient } from './tracker.js';
import {
  UT_METADATA,
  UT_METADATA_LOCAL_ID,
  decodeMetadataMessage,
  encodeMetadataData,
  encodeMetadataRequest,
  metadataPieceCount,
  metadataPieceLength,
  METADATA_PIECE_SIZE,
} from './ut-metadata.js';
import { MSG, checkHandshake, type Handshake, type WireMessage } from './wire.js';

/** Bounds and timings. Each constant says why it has the value it has. */
export const LIMITS = {
  /** Connected peers per torrent (reference clients use 50–80). */
  maxPeers: 50,
  /** Outgoing connection attempts in flight. */
  maxConnecting: 10,
  connectTimeoutMs: 10_000,
  /** BEP 3: a handshake should follow the connection promptly. */
  handshakeTimeoutMs: 10_000,
  /** Keep-alive every 90 s; drop a peer silent for 3 minutes (BEP 3 suggests 2 min). */
  keepAliveMs: 90_000,
  idleTimeoutMs: 180_000,
  /** No block for this long with requests outstanding: the peer is snubbing us. */
  snubTimeoutMs: 20_000,
  /** Initial and maximum request pipeline depth (16 KiB blocks). */
  initialDepth: 64,
  maxDepth: 1000,
  /** Pipeline sized to this many seconds of the peer's measured rate. */
  depthSeconds: 1,
  /** Our own BEP 10 `reqq`: upload requests we queue per peer. */
  maxUploadQueue: 2000,
  /** Largest block a peer may request (most clients cap at 128 KiB; BEP 3 uses 16 KiB). */
  maxRequestLength: 128 * 1024,
  /** Bound on piece buffers in flight (assembling + writing). */
  maxBufferedBytes: 96 * 1024 * 1024,
  /** Pieces that fail with a peer as sole sender before it is banned. */
  banStrikes: 3,
  /** Backlog in a peer's socket above which we pause serving its requests. */
  uploadBacklogBytes: 4 * 1024 * 1024,
  /** Reconnect backoff for a failed peer address, and attempts before giving up. */
  reconnectBaseMs: 1_000,
  maxConnectFailures: 8,
  /** Bound on remembered candidate peer addresses. */
  maxCandidates: 1000,
  /** BEP 10 extended-handshake payload bound. */
  maxExtendedMessage: 1024 * 1024,
  /**
   * BEP 9 metadata pieces served per connection: two full copies of the info dictionary
   * (a peer that lost one retries), then rejects, so no peer can make us send it forever.
   */
  metadataCopiesPerPeer: 2,
} as const;

/**
 * Read buffer shared by every outgoing connection (`onread`): a read's bytes are parsed
 * synchronously before the next read starts, so one buffer serves all sockets. 256 KiB:
 * a loopback read usually returns several blocks at once. 1 MiB cost less CPU per GiB
 * but peak RSS of a 1 GiB download rose from ~110 to 144-166 MiB (cause not found), past
 * the 150 MB bound, so it was reverted.
 */
const sharedReadBuffer = Buffer.allocUnsafe(256 * 1024);

/** Requests sent per refill at least (one write each): fewer syscalls, same pipeline. */
const REFILL_BATCH = 32;
/** Contiguous received blocks hashed per `update` call (4 × 16 KiB = 64 KiB). */
const HASH_RUN = 4;

/** `fetching-metadata`: a magnet link's info dictionary is being fetched (magnet-session.ts). */
export type SessionState =
  'idle' | 'fetching-metadata' | 'checking' | 'downloading' | 'seeding' | 'paused' | 'stopped';

/** A progress snapshot, emitted once per second and on state changes. */
export interface Progress {
  state: SessionState;
  infoHash: string;
  name: string;
  totalBytes: number;
  /** Bytes of pieces verified (SHA-1) so far. */
  verifiedBytes: number;
  left: number;
  piecesVerified: number;
  pieceCount: number;
  /** Payload bytes per second, smoothed. */
  downloadRate: number;
  uploadRate: number;
  /** Payload bytes received/sent by this session (not counting resumed data). */
  downloaded: number;
  uploaded: number;
  /** Connected peers (handshake done). */
  peers: number;
  /** Peer addresses known from discovery (connected or not, banned excluded). */
  knownPeers: number;
  /** Peers we download from (unchoked us, we are interested). */
  activePeers: number;
  banned: number;
  hashFailures: number;
  /** Protocol violations by peers (connections dropped). */
  protocolErrors: number;
  /** Bytes received that were not used (duplicates in end game, unsolicited). */
  wasted: number;
  /** The BEP 9 metadata phase of a magnet link, while it runs. */
  metadata?: MetadataProgress;
}

export interface TorrentSessionOptions {
  metainfo: Metainfo;
  /** Data directory: where content is downloaded to / seeded from. */
  dir: string;
  /** 20-byte peer id; default: "-BO0100-" + random. */
  peerId?: Buffer;
  /** Accept incoming connections on host:port (port 0 = ephemeral). Default: none. */
  listen?: PeerAddr;
  /**
   * The port of a listener shared between torrents (it hands sockets over with
   * `acceptSocket`): announced to trackers and in the BEP 10 handshake. Ignored with `listen`.
   */
  sharedPort?: number;
  /** Local address outgoing connections are bound to (default: the OS picks). */
  localAddress?: string;
  /** Start in the paused state after checking (no peers, no announces until `resume`). */
  startPaused?: boolean;
  /** Keep the resume journal when complete (a restart then skips re-hashing). Default false. */
  keepResumeState?: boolean;
  /** Peers to connect to from the start. */
  peers?: PeerAddr[];
  /** Discovery sources; default: the torrent's HTTP trackers when `useTrackers`. */
  peerSources?: PeerSource[];
  /** Announce to the torrent's own trackers (default true). */
  useTrackers?: boolean;
  /** Keep the resume journal here (default `<dir>/.btagent`). `null` disables resume. */
  stateDir?: string | null;
  /**
   * How to establish what is on disk at start: `full` hashes every piece (seeding),
   * `resume` trusts the journal and re-hashes only other pieces present on disk.
   */
  check?: 'full' | 'resume';
  /** Keep serving after the download completes (default true). */
  seedWhenComplete?: boolean;
  /** Upload slots (default 4) for the choker. */
  uploadSlots?: number;
  /** Addresses never to connect to or accept (e.g. peers that sent bad BEP 9 metadata). */
  banned?: readonly PeerAddr[];
  /** Called per piece request we send (observability; tests use it). */
  onRequest?: (piece: number, begin: number) => void;
  /** Monotonic clock in ms (default performance.now). */
  now?: () => number;
}

export interface TorrentSessionEvents {
  progress: [Progress];
  complete: [];
  'peer-banned': [PeerAddr];
  /** A journalled piece failed its re-verification after an unclean stop (reverify.ts). */
  'piece-dropped': [number];
  error: [Error];
}

interface Assembly {
  buf: Buffer;
  hash: Hash;
  received: Uint8Array;
  hashed: number;
  blocks: number;
}

/** Generates an Azureus-style peer id (BEP 20). */
export function makePeerId(): Buffer {
  return Buffer.concat([Buffer.from('-BO0100-', 'latin1'), randomBytes(12)]);
}

/**
 * Downloads and seeds one torrent. Construct with `createTorrentSession`.
 * Events: `progress` (Progress), `complete`, `peer-banned` (PeerAddr),
 * `piece-dropped` (piece index), `error` (Error, fatal).
 */
export class TorrentSession extends EventEmitter<TorrentSessionEvents> {
  readonly meta: Metainfo;
  readonly peerId: Buffer;
  private readonly o: TorrentSessionOptions;
  private readonly now: () => number;
  private readonly picker: PiecePicker;
  private readonly choker: Choker;
  private readonly blocksPerPiece: number;
  private readonly blockKey: (p: number, b: number) => number;
  private readonly maxMessageLength: number;
  private storage: Storage | null = null;
  private journal: ResumeJournal | null = null;
  /** Journalled pieces not re-verified yet after an unclean stop (reverify.ts). */
  private suspect: SuspectPieces | null = null;
  /** Verified pieces whose write to disk has not completed: not served yet. */
  private readonly unwritten = new Set<number>();
  private server: Server | null = null;
  private listenPort = 0;
  private readonly peers = new Map<number, PeerConnection>();
  private readonly candidates = new Map<string, Candidate>();
  private readonly banned = new Set<string>();
  private readonly bannedIds = new Set<string>();
  private connecting = 0;
  private nextPeerId = 1;
  private readonly assemblies = new Map<number, Assembly>();
  private bufferedBytes = 0;
  private readonly freeBuffers: Buffer[] = [];
  private timer: NodeJS.Timeout | null = null;
  private lastTick = 0;
  private lastRechoke = -Infinity;
  private state: SessionState = 'idle';
  private readonly sources: PeerSource[];
  private readonly schedule = new AnnounceSchedule(() => this.now());
  private completedAnnounced = false;
  private verifiedBytes = 0;
  private downloaded = 0;
  private uploaded = 0;
  private downRate = 0;
  private upRate = 0;
  private tickDown = 0;
  private tickUp = 0;
  private hashFailures = 0;
  private protocolErrors = 0;
  private wasted = 0;
  private endGame = false;
  /** Pause requested before the check finished (or `startPaused`): honoured after it. */
  private wantPaused: boolean;
  private readonly pendingWrites = new Set<Promise<void>>();

  constructor(o: TorrentSessionOptions) {
    super();
    this.o = o;
    this.meta = o.metainfo;
    this.peerId = o.peerId ?? makePeerId();
    if (this.peerId.length !== 20) throw new RangeError('peerId must be 20 bytes');
    this.now = o.now ?? (() => performance.now());
    this.wantPaused = o.startPaused === true;
    this.blocksPerPiece = blockCount(this.meta.pieceLength);
    this.blockKey = makeBlockKey(this.blocksPerPiece);
    this.picker = new PiecePicker({
      pieceCount: this.meta.pieceCount,
      pieceLength: this.meta.pieceLength,
      totalLength: this.meta.totalLength,
      random: Math.random,
      maxPartial: Math.max(4, Math.floor((LIMITS.maxBufferedBytes * 0.75) / this.meta.pieceLength)),
    });
    this.choker = new Choker({ regularSlots: o.uploadSlots ?? 4, random: Math.random });
    // Largest legal message: a piece of the biggest block we request, a bitfield, or a
    // bounded extended message (BEP 10).
    this.maxMessageLength = Math.max(
      9 + LIMITS.maxRequestLength,
      1 + Math.ceil(this.meta.pieceCount / 8),
      2 + LIMITS.maxExtendedMessage,
    );
    this.sources = [...(o.peerSources ?? [])];
    if (o.useTrackers !== false && !(o.peerSources && o.peerSources.length > 0)) {
      const t = new TrackerClient(this.meta.announceTiers);
      if (t.usable) this.sources.push(t);
    }
    for (const a of o.banned ?? []) this.banned.add(formatPeerAddr(a));
    for (const a of o.peers ?? []) this.addCandidate(a);
  }

  /** The port we accept connections on (after `start`), 0 if not listening. */
  get port(): number {
    return this.listenPort || (this.o.sharedPort ?? 0);
  }

  /** True when every piece is verified. */
  get complete(): boolean {
    return this.picker.complete;
  }

  /** Which pieces are verified (a copy). */
  verifiedPieces(): Bitfield {
    return new Bitfield(this.meta.pieceCount, this.picker.have.buffer);
  }

  /** Checks the data on disk, starts listening, announcing and connecting. */
  async start(): Promise<void> {
    if (this.state !== 'idle') throw new Error('session already started');
    this.setState('checking');
    this.storage = await Storage.open(this.meta, this.o.dir, { create: true });
    await this.checkExisting();
    // After an unclean stop, a torrent the journal alone makes complete is not called
    // complete (seeding, `watch` done) until those pieces re-verified (reverify.ts).
    if (this.picker.complete && (this.suspect?.size ?? 0) > 0) await this.suspect?.sweep();
    if ((this.state as SessionState) === 'stopped') return; // stopped while checking
    if (this.o.listen) await this.listen(this.o.listen);
    // Already complete at start: seed; `completed` is only announced by a real download.
    if (this.picker.complete) this.completedAnnounced = true;
    void this.suspect?.sweep(); // paused or not: it only reads the disk
    this.lastTick = this.now();
    this.timer = setInterval(() => this.tick(), 1000);
    if (this.wantPaused) {
      this.setState('paused');
      this.emitProgress();
      return;
    }
    this.setState(this.picker.complete ? 'seeding' : 'downloading');
    if (this.picker.complete) this.onComplete();
    for (const s of this.sources) void this.announce(s, 'started');
    this.connectMore();
    this.emitProgress();
  }

  /** Stops everything: closes connections, announces `stopped`, flushes the journal. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    const wasStarted = this.state !== 'idle';
    this.setState('stopped');
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const p of this.peers.values()) this.dropPeer(p, null);
    this.server?.close();
    this.server = null;
    if (wasStarted)
      await Promise.all(
        this.sources
          .filter((s) => this.schedule.started(s)) // only where `started` was announced
          .map((s) => this.announce(s, 'stopped', 3000).catch(() => undefined)),
      );
    await Promise.all([...this.pendingWrites]);
    await this.suspect?.idle();
    await this.journal?.close(this.picker.complete && this.o.keepResumeState !== true);
    await this.storage?.close();
  }

  /** Disconnects all peers and stops connecting until `resume`. */
  pause(): void {
    if (this.state === 'idle' || this.state === 'checking') this.wantPaused = true;
    if (this.state !== 'downloading' && this.state !== 'seeding') return;
    for (const p of this.peers.values()) this.dropPeer(p, null);
    this.setState('paused');
  }

  /** Leaves the paused state: reconnects (and announces `started` if never announced). */
  resume(): void {
    if (this.state === 'idle' || this.state === 'checking') this.wantPaused = false;
    if (this.state !== 'paused') return;
    this.setState(this.picker.complete ? 'seeding' : 'downloading');
    for (const s of this.sources) if (!this.schedule.started(s)) void this.announce(s, 'started');
    for (const c of this.candidates.values()) c.nextTryAt = 0;
    this.connectMore();
    this.emitProgress();
  }

  /** Adds peers discovered later (tracker, overlay, manual). Duplicates are ignored. */
  addPeers(addrs: readonly PeerAddr[]): void {
    for (const a of addrs) this.addCandidate(a);
    if (this.state === 'downloading' || this.state === 'seeding') this.connectMore();
  }

  /**
   * Hands an accepted socket to this session. A listener shared between torrents reads the
   * start of the handshake to pick the session and passes those bytes as `head`.
   */
  acceptSocket(socket: Socket, head?: Buffer): void {
    if (this.state !== 'downloading' && this.state !== 'seeding') {
      socket.destroy();
      return;
    }
    const addr = { host: socket.remoteAddress ?? '?', port: socket.remotePort ?? 0 };
    if (this.peers.size >= LIMITS.maxPeers || this.banned.has(addr.host + ':' + addr.port)) {
      socket.destroy();
      return;
    }
    const peer = this.setupPeer(socket, addr, false);
    if (head && head.length > 0) this.onData(peer, head);
  }

  /** The current progress snapshot. */
  progress(): Progress {
    let active = 0;
    let connected = 0;
    for (const p of this.peers.values()) {
      if (!p.handshake) continue;
      connected++;
      if (!p.peerChoking && p.amInterested) active++;
    }
    return {
      state: this.state,
      infoHash: this.meta.infoHashHex,
      name: this.meta.name,
      totalBytes: this.meta.totalLength,
      verifiedBytes: this.verifiedBytes,
      left: this.meta.totalLength - this.verifiedBytes,
      piecesVerified: this.picker.have.count,
      pieceCount: this.meta.pieceCount,
      downloadRate: Math.round(this.downRate),
      uploadRate: Math.round(this.upRate),
      downloaded: this.downloaded,
      uploaded: this.uploaded,
      peers: connected,
      knownPeers: this.candidates.size,
      activePeers: active,
      banned: this.banned.size,
      hashFailures: this.hashFailures,
      protocolErrors: this.protocolErrors,
      wasted: this.wasted,
    };
  }

  // ---- start-up -------------------------------------------------------------------------

  private async checkExisting(): Promise<void> {
    const storage = this.storage!;
    const trusted = new Set<number>();
    if (this.o.stateDir !== null) {
      const stateDir = this.o.stateDir ?? join(this.o.dir, '.btagent');
      const { journal, verified, clean } = ResumeJournal.open(
        stateDir,
        this.meta.infoHash,
        this.meta.pieceCount,
        { syncData: () => storage.sync(), onError: (e) => this.fail(e) },
      );
      this.journal = journal;
      if (this.o.check !== 'full') {
        for (const i of verified) if (storage.mayHavePiece(i)) trusted.add(i);
        // After an unclean stop: trusted for the picker, hashed before serving (reverify.ts).
        if (!clean && trusted.size > 0)
          this.suspect = new SuspectPieces(
            trusted,
            this.meta.pieceLength,
            (i, scratch) => storage.checkPiece(i, scratch),
            (i) => this.lostPiece(i),
            () => this.state === 'stopped',
          );
      }
    }
    const scratch = Buffer.allocUnsafe(this.meta.pieceLength);
    let shown = this.now();
    for (let i = 0; i < this.meta.pieceCount; i++) {
      if (this.state === 'stopped') return;
      if (this.now() - shown >= 500) {
        // A long check (large data, first seed) still shows progress.
        shown = this.now();
        this.emitProgress();
      }
      const ok =
        trusted.has(i) || (storage.mayHavePiece(i) && (await storage.checkPiece(i, scratch)));
      if (ok) {
        this.picker.pieceVerified(i);
        this.verifiedBytes += pieceSize(this.meta, i);
        if (!trusted.has(i)) this.journal?.record(i);
      } else this.journal?.drop(i); // listed, but its data is gone or wrong
    }
  }

  /** A journalled piece whose data did not hash on re-verification: fetch it again. */
  private lostPiece(i: number): void {
    this.hashFailures++;
    this.picker.pieceLost(i);
    this.verifiedBytes -= pieceSize(this.meta, i);
    this.storage?.forget(i);
    this.journal?.drop(i);
    this.emit('piece-dropped', i);
    if (this.state === 'seeding') this.setState('downloading');
    for (const p of this.peers.values()) {
      if (p.handshake && p.has(i) && !p.amInterested) this.setInterested(p, true);
      this.refill(p);
    }
    this.emitProgress();
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

  // ---- discovery ------------------------------------------------------------------------

  private addCandidate(a: PeerAddr): void {
    const key = formatPeerAddr(a);
    if (this.candidates.has(key) || this.banned.has(key)) return;
    if (this.port && a.port === this.port && isLocal(a.host)) return; // ourselves
    if (this.candidates.size >= LIMITS.maxCandidates) {
      // Forget the candidate that failed most (bounded memory, keep good ones).
      let worst: string | null = null;
      let wf = -1;
      for (const [k, c] of this.candidates)
        if (!c.connected && c.failures > wf) {
          wf = c.failures;
          worst = k;
        }
      if (worst === null) return;
      this.candidates.delete(worst);
    }
    this.candidates.set(key, { addr: a, failures: 0, nextTryAt: 0, connected: false });
  }

  private async announce(s: PeerSource, event: AnnounceEvent, timeoutMs?: number): Promise<void> {
    const left = this.meta.totalLength - this.verifiedBytes;
    const peers = await this.schedule.announce(
      s,
      {
        infoHash: this.meta.infoHash,
        peerId: this.peerId,
        port: this.port,
        uploaded: this.uploaded,
        downloaded: this.downloaded,
        left,
        event,
        numwant: event === 'stopped' ? 0 : 50,
      },
      timeoutMs,
    );
    if (peers !== undefined) this.addPeers(peers);
  }

  private connectMore(): void {
    if (this.state !== 'downloading' && this.state !== 'seeding') return;
    // A seed dials too: some clients (transmission) never dial loopback addresses, and
    // leechers behind NAT can only be reached this way. Seeds it meets are dropped.
    const now = this.now();
    for (const c of this.candidates.values()) {
      if (
        this.peers.size + this.connecting >= LIMITS.maxPeers ||
        this.connecting >= LIMITS.maxConnecting
      )
        return;
      if (c.connected || c.nextTryAt > now || c.failures >= LIMITS.maxConnectFailures) continue;
      this.dial(c);
    }
  }

  private dial(c: Candidate): void {
    c.connected = true;
    this.connecting++;
    let peer: PeerConnection | null = null;
    const socket = net.connect({
      host: c.addr.host,
      port: c.addr.port,
      noDelay: true,
      ...(this.o.localAddress ? { localAddress: this.o.localAddress } : {}),
      // Reads land in one shared buffer: no Readable stream machinery and no fresh 64 KiB
      // allocation per read; the parser copies out the partial message a read ends with.
      onread: {
        buffer: sharedReadBuffer,
        callback: (n: number, buf: Uint8Array): boolean => {
          if (peer) this.onData(peer, (buf as Buffer).subarray(0, n), true);
          return true; // keep reading (false would pause the socket)
        },
      },
    });
    watchDial(socket, c, {
      connectTimeoutMs: LIMITS.connectTimeoutMs,
      reconnectBaseMs: LIMITS.reconnectBaseMs,
      now: () => this.now(),
      settled: () => this.connecting--,
      connected: () => {
        if (this.state !== 'downloading' && this.state !== 'seeding') {
          socket.destroy();
          c.connected = false;
          return;
        }
        peer = this.setupPeer(socket, c.addr, true, c);
        peer.sendHandshake(this.meta.infoHash, this.peerId);
      },
    });
  }

  // ---- peer lifecycle -------------------------------------------------------------------

  private setupPeer(
    socket: Socket,
    addr: PeerAddr,
    outgoing: boolean,
    cand?: Candidate,
  ): PeerConnection {
    const id = this.nextPeerId++;
    const peer: PeerConnection = new PeerConnection(
      id,
      socket,
      addr,
      outgoing,
      this.meta.pieceCount,
      this.maxMessageLength,
      (m) => this.onMessage(peer, m),
      (h) => this.onHandshake(peer, h),
      this.now(),
      LIMITS.initialDepth,
    );
    // Blocks skip the message object: one call per 16 KiB received.
    peer.parser.onPieceBlock = (index, begin, src, start, length) => {
      if (!peer.closed) this.onPiece(peer, index, begin, src, start, length);
    };
    this.peers.set(id, peer);
    const hsTimer = setTimeout(() => {
      if (!peer.handshake) this.dropPeer(peer, new WireProtocolError('handshake timeout'));
    }, LIMITS.handshakeTimeoutMs);
    socket.on('data', (chunk: Buffer) => this.onData(peer, chunk));
    socket.on('drain', () => this.pumpUploads(peer));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(hsTimer);
      this.dropPeer(peer, null);
      if (cand) {
        cand.connected = false;
        // Retry later unless it was banned; a fine connection that closed is retried after a pause.
        if (!peer.handshake) cand.failures++;
        cand.nextTryAt = this.now() + LIMITS.reconnectBaseMs * 2 ** Math.min(cand.failures + 1, 6);
        this.connectMore();
      }
    });
    return peer;
  }

  /** `transient`: `chunk` is the shared read buffer, reused after this call returns. */
  private onData(peer: PeerConnection, chunk: Buffer, transient = false): void {
    if (peer.closed) return;
    peer.lastReceiveAt = this.now();
    try {
      peer.parser.push(chunk, transient);
    } catch (e) {
      this.dropPeer(peer, e as Error);
      return;
    }
    if (!peer.closed) this.refill(peer);
  }

  private onHandshake(peer: PeerConnection, h: Handshake): void {
    // Ourselves (a tracker listed our address) or a banned peer id: not a protocol error.
    const verdict = checkHandshake(h, this.meta.infoHash, this.peerId, this.bannedIds);
    if (verdict !== 'ok') {
      this.dropPeer(peer, null);
      if (verdict === 'self') this.candidates.delete(peer.key); // never dial ourselves again
      return;
    }
    peer.handshake = h;
    peer.fast = h.fast;
    peer.extended = h.extended;
    if (!peer.outgoing) peer.sendHandshake(this.meta.infoHash, this.peerId);
    if (peer.extended) {
      // BEP 10 handshake: our request queue bound and listen port, and BEP 9: we serve
      // the info dictionary (so clients given a magnet link can fetch it from us), except
      // for a private torrent (BEP 27), whose metadata goes only to who has the .torrent.
      const serve = !this.meta.private;
      peer.sendExtended(
        0,
        encodeExtendedHandshake({
          m: serve ? { [UT_METADATA]: UT_METADATA_LOCAL_ID } : {},
          ...(serve ? { metadataSize: this.meta.infoBytes.length } : {}),
          reqq: LIMITS.maxUploadQueue,
          port: this.port,
          client: 'btoverlay 0.1',
        }),
      );
    }
    const have = this.picker.have;
    if (peer.fast && have.full) peer.sendSimple(MSG.haveAll);
    else if (peer.fast && have.count === 0) peer.sendSimple(MSG.haveNone);
    else if (have.count > 0) peer.sendBitfield(have.buffer);
    this.rechoke(false);
  }

  private dropPeer(peer: PeerConnection, err: Error | null): void {
    if (!this.peers.has(peer.id)) return;
    this.peers.delete(peer.id);
    if (err instanceof WireProtocolError) this.protocolErrors++;
    peer.close();
    for (const key of peer.outstanding.keys())
      this.picker.requestCancelled(
        Math.floor(key / this.blocksPerPiece),
        key % this.blocksPerPiece,
      );
    peer.outstanding.clear();
    this.picker.peerGone(peer.id);
    if (peer.handshake) {
      if (peer.seed) this.picker.removeSeed();
      else this.picker.removeBitfield(peer.bits);
    }
    peer.uploadQueue.length = 0;
    if (this.state === 'downloading' || this.state === 'seeding') {
      this.rechoke(false);
      for (const p of this.peers.values()) this.refill(p);
    }
  }

  private ban(peer: PeerConnection): void {
    this.banned.add(peer.key);
    if (peer.handshake) this.bannedIds.add(peer.handshake.peerId.toString('hex'));
    this.candidates.delete(peer.key);
    this.emit('peer-banned', peer.addr);
    this.dropPeer(peer, null);
  }

  // ---- messages -------------------------------------------------------------------------

  private onMessage(peer: PeerConnection, m: WireMessage): void {
    if (peer.closed) return;
    switch (m.type) {
      case 'keepAlive':
        return;
      case 'piece':
        return this.onPiece(peer, m.index, m.begin, m.block, 0, m.block.length);
      case 'choke':
        peer.peerChoking = true;
        // BEP 6: with the fast extension a choke no longer cancels requests; rejects follow.
        if (!peer.fast) this.cancelAll(peer, false);
        return;
      case 'unchoke':
        peer.peerChoking = false;
        peer.lastBlockAt = this.now();
        return;
      case 'interested':
        peer.peerInterested = true;
        this.rechoke(false);
        return;
      case 'notInterested':
        peer.peerInterested = false;
        this.rechoke(false);
        return;
      case 'have':
        if (m.index >= this.meta.pieceCount)
          throw new WireProtocolError(`have ${m.index} out of range`);
        if (!peer.seed && peer.bits.set(m.index)) {
          this.picker.addHave(m.index);
          if (!peer.amInterested && !this.picker.have.has(m.index)) this.setInterested(peer, true);
        }
        return;
      case 'bitfield': {
        if (
          m.bits.length !== Math.ceil(this.meta.pieceCount / 8) ||
          Bitfield.hasSpareBits(m.bits, this.meta.pieceCount)
        )
          throw new WireProtocolError('bitfield of wrong size');
        peer.bits = new Bitfield(this.meta.pieceCount, m.bits);
        if (peer.bits.full) {
          peer.seed = true;
          this.picker.addSeed();
        } else this.picker.addBitfield(peer.bits);
        this.updateInterest(peer);
        this.dropIfBothSeeds(peer);
        return;
      }
      case 'haveAll':
        if (!peer.fast) throw new WireProtocolError('have all without fast extension');
        peer.seed = true;
        this.picker.addSeed();
        this.updateInterest(peer);
        this.dropIfBothSeeds(peer);
        return;
      case 'haveNone':
        if (!peer.fast) throw new WireProtocolError('have none without fast extension');
        return;
      case 'request':
        return this.onRequest(peer, m);
      case 'cancel': {
        const q = peer.uploadQueue;
        const k = q.findIndex(
          (r) => r.index === m.index && r.begin === m.begin && r.length === m.length,
        );
        if (k >= 0) q.splice(k, 1);
        return;
      }
      case 'reject': {
        if (!peer.fast) throw new WireProtocolError('reject without fast extension');
        const key = this.blockKey(m.index, Math.floor(m.begin / BLOCK_SIZE));
        if (peer.outstanding.delete(key))
          this.picker.requestCancelled(m.index, Math.floor(m.begin / BLOCK_SIZE));
        return;
      }
      case 'allowedFast':
        if (m.index < this.meta.pieceCount) peer.allowedFast.add(m.index);
        return;
      case 'extended':
        if (m.id === 0) this.onExtendedHandshake(peer, m.payload);
        else if (m.id === UT_METADATA_LOCAL_ID) this.onMetadataMessage(peer, m.payload);
        return;
      default:
        return; // port, suggest, unknown ids: ignored (BEP 3: unknown messages are skipped)
    }
  }

  /** Two seeds have nothing to exchange; forget the address so we do not redial it. */
  private dropIfBothSeeds(peer: PeerConnection): void {
    if (!peer.seed || !this.picker.complete) return;
    const c = this.candidates.get(peer.key);
    if (c) c.failures = LIMITS.maxConnectFailures;
    this.dropPeer(peer, null);
  }

  private onExtendedHandshake(peer: PeerConnection, payload: Buffer): void {
    const h = decodeExtendedHandshake(payload);
    if (h.reqq !== null) peer.reqq = Math.min(h.reqq, LIMITS.maxDepth);
    peer.depth = Math.min(peer.depth, peer.reqq);
    peer.utMetadata = h.m.get(UT_METADATA) ?? 0;
  }

  /**
   * BEP 9: a peer asks for a piece of the info dictionary (it was given a magnet link).
   * Answered with the raw info bytes, or rejected when out of range, when its socket is
   * backed up, past the per-connection bound, or for a private torrent. Data and rejects we never asked for are
   * ignored (a session always has the metadata).
   */
  private onMetadataMessage(peer: PeerConnection, payload: Buffer): void {
    const m = decodeMetadataMessage(payload);
    if (m.type !== 'request' || peer.utMetadata === 0) return;
    if (this.meta.private) {
      // Not advertised (BEP 27 torrent): a peer asking anyway gets a reject.
      peer.sendExtended(peer.utMetadata, encodeMetadataRequest('reject', m.piece));
      return;
    }
    const info = this.meta.infoBytes;
    const count = metadataPieceCount(info.length);
    if (
      m.piece >= count ||
      peer.metadataServed >= count * LIMITS.metadataCopiesPerPeer ||
      peer.writeBacklog > LIMITS.uploadBacklogBytes
    ) {
      peer.sendExtended(peer.utMetadata, encodeMetadataRequest('reject', m.piece));
      return;
    }
    peer.metadataServed++;
    const begin = m.piece * METADATA_PIECE_SIZE;
    const data = info.subarray(begin, begin + metadataPieceLength(info.length, m.piece));
    peer.sendExtended(peer.utMetadata, encodeMetadataData(m.piece, info.length, data));
  }

  private updateInterest(peer: PeerConnection): void {
    const want = !this.picker.complete && (peer.seed || this.picker.wants((i) => peer.bits.has(i)));
    this.setInterested(peer, want);
  }

  private setInterested(peer: PeerConnection, v: boolean): void {
    if (peer.amInterested === v) return;
    peer.amInterested = v;
    peer.sendSimple(v ? MSG.interested : MSG.notInterested);
  }

  // ---- downloading ----------------------------------------------------------------------

  private pickerView(peer: PeerConnection): PickerPeer {
    const choked = peer.peerChoking;
    return {
      id: peer.id,
      has: choked ? (i) => peer.allowedFast.has(i) && peer.has(i) : (i) => peer.has(i),
      requested: (p, b) => peer.outstanding.has(this.blockKey(p, b)),
    };
  }

  /** Tops up the peer's request pipeline. */
  private refill(peer: PeerConnection): void {
    if (peer.closed || !peer.handshake || !peer.amInterested || this.state !== 'downloading')
      return;
    if (peer.peerChoking && peer.allowedFast.size === 0) return;
    if (this.bufferedBytes > LIMITS.maxBufferedBytes) return; // disk behind: back-pressure
    const depth = peer.snubbed ? 1 : Math.min(peer.depth, peer.reqq);
    const want = depth - peer.outstanding.size;
    // Batch: refill when a few blocks are missing, so each write carries many requests.
    if (want <= 0 || (peer.outstanding.size > 0 && want < Math.min(REFILL_BATCH, depth / 4)))
      return;
    const blocks = this.picker.pick(this.pickerView(peer), want);
    if (blocks.length === 0) {
      if (!this.endGame && this.picker.inEndGame()) this.endGame = true;
      return;
    }
    if (!this.endGame && this.picker.inEndGame()) this.endGame = true;
    if (this.o.onRequest) for (const b of blocks) this.o.onRequest(b.piece, b.begin);
    peer.sendRequests(blocks, this.blockKey, this.now());
  }

  private cancelAll(peer: PeerConnection, sendCancels: boolean): void {
    for (const key of peer.outstanding.keys()) {
      const piece = Math.floor(key / this.blocksPerPiece);
      const block = key % this.blocksPerPiece;
      if (sendCancels) peer.sendCancel(this.blockRef(piece, block));
      this.picker.requestCancelled(piece, block);
    }
    peer.outstanding.clear();
  }

  private blockRef(piece: number, block: number): { piece: number; begin: number; length: number } {
    const begin = block * BLOCK_SIZE;
    return { piece, begin, length: Math.min(BLOCK_SIZE, pieceSize(this.meta, piece) - begin) };
  }

  /** A piece message's block: `src[start, start + length)`, valid during this call only. */
  private onPiece(
    peer: PeerConnection,
    index: number,
    begin: number,
    src: Buffer,
    start: number,
    length: number,
  ): void {
    const blockIdx = Math.floor(begin / BLOCK_SIZE);
    const key = this.blockKey(index, blockIdx);
    if (
      index >= this.meta.pieceCount ||
      begin % BLOCK_SIZE !== 0 ||
      !peer.outstanding.delete(key)
    ) {
      // Unsolicited or already cancelled: harmless, but not useful.
      this.wasted += length;
      return;
    }
    const now = this.now();
    peer.lastBlockAt = now;
    peer.snubbed = false;
    peer.downloaded += length;
    peer.tickDown += length;
    this.downloaded += length;
    this.tickDown += length;
    const size = pieceSize(this.meta, index);
    if (length !== Math.min(BLOCK_SIZE, size - begin))
      throw new WireProtocolError('piece block of wrong length');
    const r = this.picker.blockReceived(index, blockIdx, peer.id);
    if (r === Received.Unwanted) {
      this.wasted += length;
      return;
    }
    if (this.endGame) {
      // Cancel duplicates of this block at other peers (end game).
      for (const other of this.peers.values()) {
        if (other !== peer && other.outstanding.delete(key)) {
          other.sendCancel({ piece: index, begin, length: length });
          this.picker.requestCancelled(index, blockIdx);
        }
      }
    }
    let a = this.assemblies.get(index);
    if (!a) {
      const blocks = blockCount(size);
      a = {
        buf: this.allocPiece(size),
        hash: createHash('sha1'),
        received: new Uint8Array(blocks),
        hashed: 0,
        blocks,
      };
      this.assemblies.set(index, a);
    }
    src.copy(a.buf, begin, start, start + length);
    a.received[blockIdx] = 1;
    // Hash incrementally while blocks arrive in order, so completion costs little, but in
    // runs of HASH_RUN blocks: one update per block was measurable per-call overhead.
    let end = a.hashed;
    while (end < a.blocks && a.received[end]) end++;
    if (end - a.hashed >= HASH_RUN || (end === a.blocks && end > a.hashed)) {
      a.hash.update(a.buf.subarray(a.hashed * BLOCK_SIZE, Math.min(size, end * BLOCK_SIZE)));
      a.hashed = end;
    }
    if (r === Received.PieceComplete) this.finishPiece(index, a, size);
  }

  private allocPiece(size: number): Buffer {
    this.bufferedBytes += this.meta.pieceLength;
    const b = this.freeBuffers.pop() ?? Buffer.allocUnsafe(this.meta.pieceLength);
    return size === b.length ? b : b.subarray(0, size);
  }

  private releasePiece(buf: Buffer): void {
    this.bufferedBytes -= this.meta.pieceLength;
    const full = Buffer.from(buf.buffer, buf.byteOffset, this.meta.pieceLength);
    if (
      this.freeBuffers.length < 32 &&
      buf.byteOffset === 0 &&
      full.length === this.meta.pieceLength
    )
      this.freeBuffers.push(full);
  }

  private finishPiece(index: number, a: Assembly, size: number): void {
    this.assemblies.delete(index);
    const digest = a.hash.digest();
    if (!digest.equals(pieceHash(this.meta, index))) {
      this.hashFailures++;
      this.releasePiece(a.buf);
      const senders = this.picker.pieceFailed(index);
      const unique = [...new Set(senders)];
      // Blame is exact when one peer sent every block; mixed pieces are re-fetched from a
      // single peer (the picker marks them exclusive), so the next failure is attributable.
      if (unique.length === 1) {
        const p = this.peers.get(unique[0]!);
        if (p && ++p.strikes >= LIMITS.banStrikes) this.ban(p);
      }
      for (const p of this.peers.values()) this.refill(p);
      return;
    }
    this.picker.pieceVerified(index);
    this.verifiedBytes += size;
    this.unwritten.add(index);
    const w = this.storage!.writePiece(index, a.buf).then(
      () => {
        this.unwritten.delete(index);
        this.releasePiece(a.buf);
        this.journal?.record(index);
        for (const p of this.peers.values()) if (p.handshake && !p.has(index)) p.sendHave(index);
      },
      (e: Error) => {
        this.unwritten.delete(index);
        this.releasePiece(a.buf);
        this.fail(e instanceof StorageError ? e : new StorageError(e.message));
      },
    );
    this.pendingWrites.add(w);
    void w.finally(() => {
      this.pendingWrites.delete(w);
      if (this.picker.complete && this.pendingWrites.size === 0 && this.state === 'downloading')
        this.onComplete();
      else for (const p of this.peers.values()) this.refill(p);
    });
  }

  private onComplete(): void {
    if ((this.suspect?.size ?? 0) > 0) {
      // Journalled pieces from before an unclean stop are not re-verified yet: complete
      // once they are (a bad one is fetched again, and the last write calls this again).
      void this.suspect?.sweep().then(() => {
        if (this.picker.complete && this.state === 'downloading') this.onComplete();
      });
      return;
    }
    this.setState('seeding');
    for (const p of this.peers.values()) {
      this.cancelAll(p, true);
      this.setInterested(p, false);
      // Two seeds have nothing to say to each other.
      if (p.seed) this.dropPeer(p, null);
    }
    void this.journal?.flush();
    if (!this.completedAnnounced) {
      this.completedAnnounced = true;
      for (const s of this.sources) void this.announce(s, 'completed');
    }
    this.emitProgress();
    this.emit('complete');
  }

  private fail(e: Error): void {
    if (this.state === 'stopped') return;
    this.emit('error', e);
  }

  // ---- uploading ------------------------------------------------------------------------

  private onRequest(peer: PeerConnection, r: UploadRequest): void {
    const ok =
      r.index < this.meta.pieceCount &&
      r.length > 0 &&
      r.length <= LIMITS.maxRequestLength &&
      r.begin + r.length <= pieceSize(this.meta, r.index);
    if (!ok) throw new WireProtocolError(`bad request ${r.index}/${r.begin}/${r.length}`);
    if (
      peer.amChoking ||
      !this.picker.have.has(r.index) ||
      this.unwritten.has(r.index) ||
      peer.uploadQueue.length >= LIMITS.maxUploadQueue
    ) {
      if (peer.fast) peer.sendReject(r); // BEP 6: never leave a request unanswered
      return;
    }
    peer.uploadQueue.push({ index: r.index, begin: r.begin, length: r.length });
    this.pumpUploads(peer);
  }

  private pumpUploads(peer: PeerConnection): void {
    if (peer.uploading || peer.closed) return;
    peer.uploading = true;
    void (async () => {
      try {
        while (
          !peer.closed &&
          peer.uploadQueue.length > 0 &&
          peer.writeBacklog < LIMITS.uploadBacklogBytes
        ) {
          const r = peer.uploadQueue.shift()!;
          if (this.suspect?.has(r.index) && !(await this.suspect.verify(r.index))) {
            if (peer.fast && !peer.closed) peer.sendReject(r); // it did not hash: never sent
            continue;
          }
          const data = await this.storage!.readBlock(r.index, r.begin, r.length);
          if (peer.closed || peer.amChoking) break;
          peer.sendPiece(r.index, r.begin, data);
          this.uploaded += r.length;
          this.tickUp += r.length;
        }
      } catch (e) {
        this.fail(e as Error);
      } finally {
        peer.uploading = false;
      }
    })();
  }

  private rechoke(periodic: boolean): void {
    const now = this.now();
    if (periodic) this.lastRechoke = now;
    const seeding = this.picker.complete;
    const list = [...this.peers.values()]
      .filter((p) => p.handshake)
      .map((p) => ({
        id: p.id,
        interested: p.peerInterested,
        rate: seeding ? p.upRate : p.downRate,
      }));
    const unchoked = this.choker.update(list, now);
    for (const p of this.peers.values()) {
      if (!p.handshake) continue;
      const choke = !unchoked.has(p.id);
      if (choke === p.amChoking) continue;
      p.amChoking = choke;
      p.sendSimple(choke ? MSG.choke : MSG.unchoke);
      if (choke) {
        if (p.fast) for (const r of p.uploadQueue) p.sendReject(r);
        p.uploadQueue.length = 0;
      }
    }
  }

  // ---- timers ---------------------------------------------------------------------------

  private tick(): void {
    const now = this.now();
    const dt = Math.max(1, now - this.lastTick) / 1000;
    this.lastTick = now;
    const a = 0.5; // EWMA weight: responsive within a couple of seconds
    this.downRate = a * (this.tickDown / dt) + (1 - a) * this.downRate;
    this.upRate = a * (this.tickUp / dt) + (1 - a) * this.upRate;
    this.tickDown = this.tickUp = 0;
    for (const p of this.peers.values()) {
      p.downRate = a * (p.tickDown / dt) + (1 - a) * p.downRate;
      p.upRate = a * (p.tickUp / dt) + (1 - a) * p.upRate;
      p.tickDown = p.tickUp = 0;
      // Pipeline sized to ~1 s of the peer's rate, within the peer's own bound.
      const target = Math.ceil((p.downRate * LIMITS.depthSeconds) / BLOCK_SIZE);
      p.depth = Math.max(
        LIMITS.initialDepth,
        Math.min(LIMITS.maxDepth, p.reqq, Math.max(target, p.depth)),
      );
      if (p.outstanding.size > 0 && now - p.lastBlockAt > LIMITS.snubTimeoutMs) {
        p.snubbed = true;
        this.cancelAll(p, true);
      }
      if (now - p.lastReceiveAt > LIMITS.idleTimeoutMs) this.dropPeer(p, null);
      else if (now - p.lastSendAt > LIMITS.keepAliveMs) {
        p.lastSendAt = now;
        p.sendKeepAlive();
      }
      if (
        p.amInterested &&
        !p.seed &&
        !this.picker.complete &&
        !this.picker.wants((i) => p.bits.has(i))
      )
        this.setInterested(p, false);
      this.refill(p);
    }
    if (now - this.lastRechoke >= RECHOKE_INTERVAL_MS) this.rechoke(true);
    if (this.state === 'downloading' || this.state === 'seeding') {
      for (const s of this.sources) if (this.schedule.due(s, now)) void this.announce(s, undefined);
      this.connectMore();
    }
    this.emitProgress();
  }

  private setState(s: SessionState): void {
    this.state = s;
  }

  private emitProgress(): void {
    this.emit('progress', this.progress());
  }
}

function isLocal(host: string): boolean {
  return host === '127.0.0.1' || host === '::1' || host === 'localhost' || host === '0.0.0.0';
}

/** Creates a session for one torrent; call `start()` to run it. */
export function createTorrentSession(o: TorrentSessionOptions): TorrentSession {
  return new TorrentSession(o);
}
