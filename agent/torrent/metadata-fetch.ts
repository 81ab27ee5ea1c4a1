/**
 * The metadata phase of a torrent started from a magnet link (BEP 9): connect to peers
 * (given, from trackers, from the overlay, or dialling us), fetch the info dictionary in
 * 16 KiB pieces from those that advertise `ut_metadata` over the BEP 10 extension
 * protocol, verify its SHA-1 against the info hash, and hand it over. I/O driver around
 * the pure `MetadataAssembler` (ut-metadata.ts).
 *
 * Bounded like the session: peers, dials, message length, requests per peer, request and
 * handshake timeouts, candidates. A peer whose metadata fails the hash is dropped, banned
 * and counted; one that breaks the protocol is dropped and counted.
 */
import { EventEmitter } from 'node:events';
import net, { type Socket } from 'node:net';
import { WireProtocolError } from './errors.js';
import { decodeExtendedHandshake, encodeExtendedHandshake } from './ext-handshake.js';
import { watchDial, type Candidate } from './dial.js';
import {
  AnnounceSchedule,
  formatPeerAddr,
  type AnnounceEvent,
  type PeerAddr,
  type PeerSource,
} from './peer-source.js';
import {
  MetadataAssembler,
  UT_METADATA,
  UT_METADATA_LOCAL_ID,
  decodeMetadataMessage,
  encodeMetadataRequest,
  isAcceptableMetadataSize,
} from './ut-metadata.js';
import {
  MSG,
  WireParser,
  encodeExtended,
  checkHandshake,
  encodeHandshake,
  encodeKeepAlive,
  encodeSimple,
  type Handshake,
  type WireMessage,
} from './wire.js';

/** Bounds and timings of the metadata phase. */
export const FETCH_LIMITS = {
  /** Connected peers (as the session). */
  maxPeers: 50,
  maxConnecting: 10,
  connectTimeoutMs: 10_000,
  handshakeTimeoutMs: 10_000,
  /** A peer that sends nothing for this long is dropped (BEP 3 suggests 2 min). */
  idleTimeoutMs: 120_000,
  keepAliveMs: 90_000,
  /** ut_metadata requests outstanding per peer (an info dictionary is a few pieces). */
  requestsPerPeer: 4,
  /** A request unanswered for this long: the piece is asked elsewhere, the peer dropped. */
  requestTimeoutMs: 15_000,
  /** After a reject (the peer is rate-limiting or lost it), wait this long before asking it again. */
  rejectBackoffMs: 5_000,
  /** Largest message: the extended handshake bound (1 MiB), as the session. */
  maxMessageLength: 2 + 1024 * 1024,
  /** A peer that cannot give us metadata (no extension, no metadata) is retried after this. */
  noMetadataRetryMs: 15_000,
  reconnectBaseMs: 1_000,
  maxConnectFailures: 8,
  maxCandidates: 1000,
  /**
   * `left` announced to trackers while the size is unknown: non-zero so nobody takes us
   * for a seed (16 KiB, one block, as libtorrent does for a torrent without metadata).
   */
  unknownLeft: 16 * 1024,
} as const;

/** Progress of the metadata phase. */
export interface MetadataProgress {
  /** Size of the info dictionary being fetched (bytes); 0 until a peer has told us. */
  size: number;
  piecesReceived: number;
  pieceCount: number;
  /** Connected peers (handshake done) and those of them that serve ut_metadata. */
  peers: number;
  metadataPeers: number;
  /** Addresses known from discovery. */
  knownPeers: number;
  /** Assembled dictionaries whose SHA-1 was not the info hash. */
  hashFailures: number;
  /** Peers banned for sending metadata that failed the hash. */
  banned: number;
  /** Peers dropped for breaking the protocol (malformed or refused ut_metadata messages). */
  protocolErrors: number;
  /** Peers whose `metadata_size` was above MAX_METADATA_SIZE (not used). */
  refusedSizes: number;
}

export interface MetadataFetchOptions {
  infoHash: Buffer;
  peerId: Buffer;
  peers?: readonly PeerAddr[];
  /** Trackers (magnet `tr`), announced to while fetching. */
  sources?: readonly PeerSource[];
  /** Our listen port for announces and the BEP 10 `p` (0 = not listening). */
  port: () => number;
  localAddress?: string;
  now?: () => number;
}

export interface MetadataFetchEvents {
  /** The verified raw info dictionary. */
  metadata: [Buffer];
  'peer-banned': [PeerAddr];
}

class FetchPeer {
  handshake: Handshake | null = null;
  /** The id the peer receives ut_metadata on; 0 = not (yet) known to serve it. */
  utMetadata = 0;
  metadataSize = 0;
  holdUntil = 0;
  closed = false;
  lastReceiveAt: number;
  lastSendAt: number;
  readonly parser: WireParser;
  timer: NodeJS.Timeout | null = null;

  constructor(
    readonly id: number,
    readonly socket: Socket,
    readonly addr: PeerAddr,
    readonly outgoing: boolean,
    readonly cand: Candidate | undefined,
    now: number,
    onMessage: (m: WireMessage) => void,
    onHandshake: (h: Handshake) => void,
  ) {
    this.lastReceiveAt = this.lastSendAt = now;
    this.parser = new WireParser(FETCH_LIMITS.maxMessageLength, onMessage, onHandshake);
  }

  get key(): string {
    return formatPeerAddr(this.addr);
  }

  write(b: Buffer, now: number): void {
    if (this.closed) return;
    this.lastSendAt = now;
    this.socket.write(b);
  }
}

/** Fetches one torrent's info dictionary from peers. Emits `metadata` once, verified. */
export class MetadataFetcher extends EventEmitter<MetadataFetchEvents> {
  private readonly now: () => number;
  private readonly peers = new Map<number, FetchPeer>();
  private readonly candidates = new Map<string, Candidate>();
  private readonly banned = new Map<string, PeerAddr>();
  private readonly bannedIds = new Set<string>();
  private readonly schedule = new AnnounceSchedule(() => this.now());
  private assembler: MetadataAssembler | null = null;
  private state: 'idle' | 'running' | 'paused' | 'done' | 'stopped' = 'idle';
  private timer: NodeJS.Timeout | null = null;
  private connecting = 0;
  private nextId = 1;
  private hashFailures = 0;
  private protocolErrors = 0;
  private refusedSizes = 0;

  constructor(private readonly o: MetadataFetchOptions) {
    super();
    this.now = o.now ?? (() => performance.now());
    for (const a of o.peers ?? []) this.addCandidate(a);
  }

  /** Starts connecting and announcing (or waits in `paused` until `resume`). */
  start(paused = false): void {
    if (this.state !== 'idle') return;
    this.state = paused ? 'paused' : 'running';
    this.timer = setInterval(() => this.tick(), 1000);
    if (!paused) this.activate();
  }

  /** Closes every connection and stops (announces `stopped` where `started` was). */
  async stop(announceStopped = true): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const p of this.peers.values()) this.drop(p, null);
    if (announceStopped)
      await Promise.all(
        (this.o.sources ?? [])
          .filter((s) => this.schedule.started(s))
          .map((s) => this.announce(s, 'stopped', 3000).catch(() => undefined)),
      );
  }

  pause(): void {
    if (this.state !== 'running') return;
    this.state = 'paused';
    for (const p of this.peers.values()) this.drop(p, null);
  }

  resume(): void {
    if (this.state !== 'paused') return;
    this.state = 'running';
    for (const c of this.candidates.values()) c.nextTryAt = 0;
    this.activate();
  }

  /** Peers found later (overlay lookups, trackers). */
  addPeers(addrs: readonly PeerAddr[]): void {
    for (const a of addrs) this.addCandidate(a);
    this.connectMore();
  }

  /** A socket accepted by a listener (`head`: handshake bytes it already read). */
  acceptSocket(socket: Socket, head?: Buffer): void {
    const addr = { host: socket.remoteAddress ?? '?', port: socket.remotePort ?? 0 };
    if (
      this.state !== 'running' ||
      this.peers.size >= FETCH_LIMITS.maxPeers ||
      this.banned.has(formatPeerAddr(addr))
    ) {
      socket.destroy();
      return;
    }
    const p = this.setup(socket, addr, false, undefined);
    if (head && head.length > 0) this.onData(p, head);
  }

  /** Addresses worth dialling for the download (known, not banned). */
  knownPeers(): PeerAddr[] {
    return [...this.candidates.values()].map((c) => c.addr);
  }

  /** Addresses banned for bad metadata. */
  bannedPeers(): PeerAddr[] {
    return [...this.banned.values()];
  }

  progress(): MetadataProgress {
    let peers = 0;
    let metadataPeers = 0;
    for (const p of this.peers.values()) {
      if (!p.handshake) continue;
      peers++;
      if (p.utMetadata !== 0 && p.metadataSize > 0) metadataPeers++;
    }
    return {
      size: this.assembler?.size ?? 0,
      piecesReceived: this.assembler?.received ?? 0,
      pieceCount: this.assembler?.pieceCount ?? 0,
      peers,
      metadataPeers,
      knownPeers: this.candidates.size,
      hashFailures: this.hashFailures,
      banned: this.banned.size,
      protocolErrors: this.protocolErrors,
      refusedSizes: this.refusedSizes,
    };
  }

  // ---- discovery and connections --------------------------------------------------------

  private activate(): void {
    for (const s of this.o.sources ?? []) void this.announce(s, 'started');
    this.connectMore();
  }

  private addCandidate(a: PeerAddr): void {
    const key = formatPeerAddr(a);
    if (this.candidates.has(key) || this.banned.has(key)) return;
    if (this.candidates.size >= FETCH_LIMITS.maxCandidates) return;
    this.candidates.set(key, { addr: a, failures: 0, nextTryAt: 0, connected: false });
  }

  private async announce(s: PeerSource, event: AnnounceEvent, timeoutMs?: number): Promise<void> {
    const peers = await this.schedule.announce(
      s,
      {
        infoHash: this.o.infoHash,
        peerId: this.o.peerId,
        port: this.o.port(),
        uploaded: 0,
        downloaded: 0,
        left: FETCH_LIMITS.unknownLeft,
        event,
        numwant: event === 'stopped' ? 0 : 50,
      },
      timeoutMs,
    );
    if (peers !== undefined) this.addPeers(peers);
  }

  private connectMore(): void {
    if (this.state !== 'running') return;
    const now = this.now();
    for (const c of this.candidates.values()) {
      if (
        this.peers.size + this.connecting >= FETCH_LIMITS.maxPeers ||
        this.connecting >= FETCH_LIMITS.maxConnecting
      )
        return;
      if (c.connected || c.nextTryAt > now || c.failures >= FETCH_LIMITS.maxConnectFailures)
        continue;
      this.dial(c);
    }
  }

  private dial(c: Candidate): void {
    c.connected = true;
    this.connecting++;
    const socket = net.connect({
      host: c.addr.host,
      port: c.addr.port,
      noDelay: true,
      ...(this.o.localAddress ? { localAddress: this.o.localAddress } : {}),
    });
    watchDial(socket, c, {
      connectTimeoutMs: FETCH_LIMITS.connectTimeoutMs,
      reconnectBaseMs: FETCH_LIMITS.reconnectBaseMs,
      now: () => this.now(),
      settled: () => this.connecting--,
      connected: () => {
        if (this.state !== 'running') {
          socket.destroy();
          c.connected = false;
          return;
        }
        const p = this.setup(socket, c.addr, true, c);
        p.write(
          encodeHandshake(this.o.infoHash, this.o.peerId, { fast: true, extended: true }),
          this.now(),
        );
      },
    });
  }

  private setup(
    socket: Socket,
    addr: PeerAddr,
    outgoing: boolean,
    cand: Candidate | undefined,
  ): FetchPeer {
    const p: FetchPeer = new FetchPeer(
      this.nextId++,
      socket,
      addr,
      outgoing,
      cand,
      this.now(),
      (m) => this.onMessage(p, m),
      (h) => this.onHandshake(p, h),
    );
    this.peers.set(p.id, p);
    p.timer = setTimeout(() => {
      if (!p.handshake) this.drop(p, new WireProtocolError('handshake timeout'));
    }, FETCH_LIMITS.handshakeTimeoutMs);
    socket.on('data', (chunk: Buffer) => this.onData(p, chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.drop(p, null);
      if (cand) {
        cand.connected = false;
        if (!p.handshake) cand.failures++;
        cand.nextTryAt = Math.max(
          cand.nextTryAt,
          this.now() + FETCH_LIMITS.reconnectBaseMs * 2 ** Math.min(cand.failures + 1, 6),
        );
      }
      this.connectMore();
    });
    return p;
  }

  private onData(p: FetchPeer, chunk: Buffer): void {
    if (p.closed) return;
    p.lastReceiveAt = this.now();
    try {
      p.parser.push(chunk);
    } catch (e) {
      this.drop(p, e as Error);
    }
  }

  /** Closes a peer; `err` (a protocol violation) is counted. */
  private drop(p: FetchPeer, err: Error | null): void {
    if (!this.peers.delete(p.id)) return;
    if (err instanceof WireProtocolError) this.protocolErrors++;
    p.closed = true;
    if (p.timer) clearTimeout(p.timer);
    p.socket.destroy();
    this.assembler?.peerGone(p.id);
    if (this.state === 'running') {
      this.pickAssembler();
      this.pumpAll();
    }
  }

  /** Done with a peer that cannot give us metadata now: close, try again later. */
  private setAside(p: FetchPeer): void {
    if (p.cand) p.cand.nextTryAt = this.now() + FETCH_LIMITS.noMetadataRetryMs;
    this.drop(p, null);
  }

  private ban(p: FetchPeer): void {
    this.banned.set(p.key, p.addr);
    if (p.handshake) this.bannedIds.add(p.handshake.peerId.toString('hex'));
    this.candidates.delete(p.key);
    this.emit('peer-banned', p.addr);
    this.drop(p, null);
  }

  // ---- protocol -------------------------------------------------------------------------

  private onHandshake(p: FetchPeer, h: Handshake): void {
    const verdict = checkHandshake(h, this.o.infoHash, this.o.peerId, this.bannedIds);
    if (verdict !== 'ok') {
      this.drop(p, null);
      if (verdict === 'self') this.candidates.delete(p.key); // never dial ourselves again
      return;
    }
    p.handshake = h;
    if (p.timer) clearTimeout(p.timer);
    p.timer = null;
    const now = this.now();
    if (!p.outgoing)
      p.write(encodeHandshake(this.o.infoHash, this.o.peerId, { fast: true, extended: true }), now);
    if (!h.extended) {
      // No BEP 10, no BEP 9: useful for the download, not for the metadata.
      this.setAside(p);
      return;
    }
    p.write(
      encodeExtended(
        0,
        encodeExtendedHandshake({
          m: { [UT_METADATA]: UT_METADATA_LOCAL_ID },
          port: this.o.port(),
          client: 'btoverlay 0.1',
        }),
      ),
      now,
    );
    // BEP 6: with the fast extension one of bitfield / have all / have none must follow.
    if (h.fast) p.write(encodeSimple(MSG.haveNone), now);
  }

  private onMessage(p: FetchPeer, m: WireMessage): void {
    if (p.closed || m.type !== 'extended') return; // the rest matters to the download only
    if (m.id === 0) {
      const h = decodeExtendedHandshake(m.payload);
      const id = h.m.get(UT_METADATA) ?? 0;
      if (id === 0 || h.metadataSize === null) {
        // No ut_metadata, or the peer has no metadata itself (another magnet user).
        this.setAside(p);
        return;
      }
      if (!isAcceptableMetadataSize(h.metadataSize)) {
        this.refusedSizes++;
        this.setAside(p);
        return;
      }
      p.utMetadata = id;
      p.metadataSize = h.metadataSize;
      this.pickAssembler();
      this.pump(p);
      return;
    }
    if (m.id !== UT_METADATA_LOCAL_ID) return;
    const msg = decodeMetadataMessage(m.payload);
    const a = this.assembler;
    switch (msg.type) {
      case 'request':
        // We have no metadata to give (BEP 9: answer with a reject).
        if (p.utMetadata !== 0)
          p.write(
            encodeExtended(p.utMetadata, encodeMetadataRequest('reject', msg.piece)),
            this.now(),
          );
        return;
      case 'reject':
        a?.release(p.id, msg.piece);
        p.holdUntil = this.now() + FETCH_LIMITS.rejectBackoffMs;
        this.pumpAll();
        return;
      case 'data': {
        if (a === null || p.metadataSize !== a.size) return; // not asked: ignored
        const refused = a.receive(p.id, msg.piece, msg.totalSize, msg.data);
        if (refused !== null)
          throw new WireProtocolError(
            refused === 'length'
              ? `ut_metadata piece ${msg.piece} of wrong length ${msg.data.length}`
              : `ut_metadata total_size ${msg.totalSize}, handshake said ${a.size}`,
          );
        if (a.complete) this.verify(a);
        else this.pump(p);
        return;
      }
      default:
        return;
    }
  }

  private verify(a: MetadataAssembler): void {
    const r = a.verify();
    if (r.ok) {
      this.state = 'done';
      if (this.timer) clearInterval(this.timer);
      this.timer = null;
      for (const p of this.peers.values()) this.drop(p, null);
      this.emit('metadata', r.info);
      return;
    }
    this.hashFailures++;
    if (r.blame !== null) {
      const p = this.peers.get(r.blame);
      if (p) this.ban(p);
    }
    this.pickAssembler();
    this.pumpAll();
  }

  /**
   * Chooses the size to assemble: the first usable peer's `metadata_size`. Peers that
   * advertise another size wait; when no connected peer has the current size any more,
   * the assembly starts over with a size a connected peer has (a liar's size fails the
   * hash, the liar is banned, and the honest size takes over; metadata is small, so
   * starting over costs little).
   */
  private pickAssembler(): void {
    const a = this.assembler;
    const sizes: number[] = [];
    for (const p of this.peers.values()) if (p.utMetadata !== 0) sizes.push(p.metadataSize);
    if (sizes.length === 0) return;
    if (a !== null && sizes.includes(a.size)) return;
    this.assembler = new MetadataAssembler(this.o.infoHash, sizes[0]!);
  }

  private pumpAll(): void {
    for (const p of this.peers.values()) this.pump(p);
  }

  /** Sends ut_metadata requests to `p` up to its bound. */
  private pump(p: FetchPeer): void {
    const a = this.assembler;
    const now = this.now();
    if (
      a === null ||
      p.closed ||
      this.state !== 'running' ||
      p.utMetadata === 0 ||
      p.metadataSize !== a.size ||
      now < p.holdUntil
    )
      return;
    while (a.outstanding(p.id) < FETCH_LIMITS.requestsPerPeer) {
      const piece = a.next(p.id, now);
      if (piece === null) return;
      p.write(encodeExtended(p.utMetadata, encodeMetadataRequest('request', piece)), now);
    }
  }

  private tick(): void {
    if (this.state !== 'running') return;
    const now = this.now();
    for (const id of this.assembler?.expire(now, FETCH_LIMITS.requestTimeoutMs) ?? []) {
      const p = this.peers.get(id);
      if (p) this.setAside(p); // a peer that sits on requests: ask the others
    }
    for (const p of this.peers.values()) {
      if (now - p.lastReceiveAt > FETCH_LIMITS.idleTimeoutMs) this.drop(p, null);
      else if (now - p.lastSendAt > FETCH_LIMITS.keepAliveMs) p.write(encodeKeepAlive(), now);
    }
    for (const s of this.o.sources ?? [])
      if (this.schedule.due(s, now)) void this.announce(s, undefined);
    this.pickAssembler();
    this.pumpAll();
    this.connectMore();
  }
}
