/**
 * A typed client of an agent's Torrents service (btoverlay.v1.Torrents). Stateless apart
 * from its gRPC channel; errors are AgentCallError like the rest of the client library.
 */
import { status, type ServiceError } from '@grpc/grpc-js';
import {
  DiscoveryMode,
  TorrentState,
  TorrentsClient as GrpcTorrentsClient,
  type Torrent as WireTorrent,
  type TorrentsWatchResponse,
} from '../generated/btoverlay/v1/torrents.js';
import { AgentCallError, authMetadata, callError, unaryCaller } from './call.js';
import type { ConnectOptions } from './client.js';
import { clientChannel } from './tls.js';

/** Where a torrent finds peers. */
export type DiscoveryName = 'overlay' | 'tracker' | 'both';
export const DISCOVERY_NAMES: readonly DiscoveryName[] = ['overlay', 'tracker', 'both'];

/** What a torrent is doing. */
export type TorrentStateName =
  'fetching-metadata' | 'checking' | 'downloading' | 'seeding' | 'paused' | 'error' | 'unknown';

/** A torrent of an agent, as the client library returns it. Byte counts are numbers. */
export interface TorrentInfo {
  /** Info hash, 40 lowercase hex digits. */
  id: string;
  name: string;
  state: TorrentStateName;
  discovery: DiscoveryName | 'unknown';
  saveDir: string;
  totalBytes: number;
  verifiedBytes: number;
  left: number;
  piecesVerified: number;
  pieceCount: number;
  /** Bytes per second. */
  downloadRate: number;
  uploadRate: number;
  downloaded: number;
  uploaded: number;
  peers: number;
  knownPeers: number;
  error: string;
  /** Unix ms. */
  addedAt: number;
  /** Unix ms; 0 if not complete yet. */
  completedAt: number;
  providerAddr: string;
  /** Added from a magnet link whose metadata has not arrived yet (sizes are 0 until then). */
  metadataPending: boolean;
}

/** One Watch event. */
export interface TorrentEvent {
  torrent: TorrentInfo;
  /** The torrent was removed (its last event). */
  removed: boolean;
}

/** What to add: a .torrent file's bytes or a magnet link. */
export interface AddTorrentInput {
  /** The .torrent file's bytes (omit or leave empty with `magnet`). */
  torrent?: Uint8Array;
  /** A magnet link (BEP 9); the agent fetches its metadata from peers. */
  magnet?: string;
  /** Absolute directory on the agent's host; '' = the agent's default. */
  saveDir?: string;
  discovery?: DiscoveryName;
  paused?: boolean;
}

/** A running Watch: cancel it, or await its end (rejects with AgentCallError on failure). */
export interface TorrentWatch {
  cancel(): void;
  readonly done: Promise<void>;
}

/** The Torrents API of one agent. */
export interface TorrentsApi {
  readonly node: string;
  add(input: AddTorrentInput): Promise<TorrentInfo>;
  list(): Promise<TorrentInfo[]>;
  get(id: string): Promise<TorrentInfo>;
  remove(id: string, deleteData?: boolean): Promise<TorrentInfo>;
  pause(id: string): Promise<TorrentInfo>;
  resume(id: string): Promise<TorrentInfo>;
  /** Streams events of one torrent (`id`) or all (''), until cancelled or removed. */
  watch(id: string, onEvent: (e: TorrentEvent) => void): TorrentWatch;
  close(): void;
}

const STATES: Record<number, TorrentStateName> = {
  [TorrentState.TORRENT_STATE_FETCHING_METADATA]: 'fetching-metadata',
  [TorrentState.TORRENT_STATE_CHECKING]: 'checking',
  [TorrentState.TORRENT_STATE_DOWNLOADING]: 'downloading',
  [TorrentState.TORRENT_STATE_SEEDING]: 'seeding',
  [TorrentState.TORRENT_STATE_PAUSED]: 'paused',
  [TorrentState.TORRENT_STATE_ERROR]: 'error',
};
const MODES: Record<number, DiscoveryName> = {
  [DiscoveryMode.DISCOVERY_MODE_OVERLAY]: 'overlay',
  [DiscoveryMode.DISCOVERY_MODE_TRACKER]: 'tracker',
  [DiscoveryMode.DISCOVERY_MODE_BOTH]: 'both',
};
const TO_MODE: Record<DiscoveryName, DiscoveryMode> = {
  overlay: DiscoveryMode.DISCOVERY_MODE_OVERLAY,
  tracker: DiscoveryMode.DISCOVERY_MODE_TRACKER,
  both: DiscoveryMode.DISCOVERY_MODE_BOTH,
};

/** Converts the wire form. */
export function torrentFromWire(t: WireTorrent): TorrentInfo {
  return {
    id: t.id,
    name: t.name,
    state: STATES[t.state] ?? 'unknown',
    discovery: MODES[t.discovery] ?? 'unknown',
    saveDir: t.saveDir,
    totalBytes: Number(t.totalBytes),
    verifiedBytes: Number(t.verifiedBytes),
    left: Number(t.left),
    piecesVerified: t.piecesVerified,
    pieceCount: t.pieceCount,
    downloadRate: Number(t.downloadRate),
    uploadRate: Number(t.uploadRate),
    downloaded: Number(t.downloaded),
    uploaded: Number(t.uploaded),
    peers: t.peers,
    knownPeers: t.knownPeers,
    error: t.error,
    addedAt: Number(t.addedAt),
    completedAt: Number(t.completedAt),
    providerAddr: t.providerAddr,
    metadataPending: t.metadataPending,
  };
}

/** Connects to the Torrents service of the agent at "host:port" (no I/O until a call). */
export function connectTorrents(node: string, options: ConnectOptions = {}): TorrentsApi {
  const timeoutMs = options.timeoutMs ?? 3000;
  const { creds, options: channelOptions } = clientChannel(options.tls);
  const client = new GrpcTorrentsClient(node, creds, channelOptions);

  const call = unaryCaller(node, timeoutMs, options.token);
  const one = async (p: Promise<{ torrent?: WireTorrent }>): Promise<TorrentInfo> => {
    const r = await p;
    if (r.torrent === undefined)
      throw new AgentCallError(node, status.INTERNAL, 'reply without a torrent');
    return torrentFromWire(r.torrent);
  };

  return {
    node,
    add: (input) =>
      one(
        call((md, o, cb) =>
          client.add(
            {
              torrent: Buffer.from(input.torrent ?? []),
              magnet: input.magnet ?? '',
              saveDir: input.saveDir ?? '',
              discovery: TO_MODE[input.discovery ?? 'overlay'],
              paused: input.paused ?? false,
            },
            md,
            o,
            cb,
          ),
        ),
      ),
    async list() {
      const r = await call<{ torrents: WireTorrent[] }>((md, o, cb) => client.list({}, md, o, cb));
      return r.torrents.map(torrentFromWire);
    },
    get: (id) => one(call((md, o, cb) => client.get({ id }, md, o, cb))),
    remove: (id, deleteData = false) =>
      one(call((md, o, cb) => client.remove({ id, deleteData }, md, o, cb))),
    pause: (id) => one(call((md, o, cb) => client.pause({ id }, md, o, cb))),
    resume: (id) => one(call((md, o, cb) => client.resume({ id }, md, o, cb))),
    watch(id, onEvent) {
      const stream = client.watch({ id }, authMetadata(options.token));
      let cancelled = false;
      const done = new Promise<void>((resolve, reject) => {
        stream.on('data', (r: TorrentsWatchResponse) => {
          if (r.torrent) onEvent({ torrent: torrentFromWire(r.torrent), removed: r.removed });
        });
        stream.on('error', (err: ServiceError) => {
          if (cancelled && err.code === status.CANCELLED) resolve();
          else reject(callError(node, err));
        });
        stream.on('end', () => resolve());
      });
      return {
        cancel() {
          cancelled = true;
          stream.cancel();
        },
        done,
      };
    },
    close() {
      client.close();
    },
  };
}
