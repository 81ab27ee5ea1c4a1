/**
 * The Torrents gRPC service: validate, convert, call the TorrentManager, convert back.
 * Errors are thrown as typed errors and mapped to status codes once (`grpc-status.ts`).
 */
import type { ServerWritableStream } from '@grpc/grpc-js';
import {
  DiscoveryMode,
  TorrentState,
  type Torrent,
  type TorrentsServer,
  type TorrentsWatchRequest,
  type TorrentsWatchResponse,
} from '../../generated/btoverlay/v1/torrents.js';
import { InvalidArgumentError, ResourceExhaustedError, UnavailableError } from '../errors.js';
import type { TorrentManager, TorrentStateName, TorrentView } from '../torrents/manager.js';
import type { Discovery } from '../torrents/persist.js';
import { toServiceError } from './grpc-status.js';
import { unary } from './unary.js';

/** Bounds of the service. */
export interface TorrentsServiceLimits {
  /** Watch streams served at once (each holds a listener and a socket). */
  readonly maxWatchStreams: number;
}

const STATES: Record<TorrentStateName, TorrentState> = {
  'fetching-metadata': TorrentState.TORRENT_STATE_FETCHING_METADATA,
  checking: TorrentState.TORRENT_STATE_CHECKING,
  downloading: TorrentState.TORRENT_STATE_DOWNLOADING,
  seeding: TorrentState.TORRENT_STATE_SEEDING,
  paused: TorrentState.TORRENT_STATE_PAUSED,
  error: TorrentState.TORRENT_STATE_ERROR,
};

const MODES: Record<Discovery, DiscoveryMode> = {
  overlay: DiscoveryMode.DISCOVERY_MODE_OVERLAY,
  tracker: DiscoveryMode.DISCOVERY_MODE_TRACKER,
  both: DiscoveryMode.DISCOVERY_MODE_BOTH,
};

/** The wire form of a torrent view. */
export function torrentToWire(v: TorrentView): Torrent {
  const u = (n: number): bigint => BigInt(Math.max(0, Math.round(n)));
  return {
    id: v.id,
    infoHash: v.infoHash,
    name: v.name,
    state: STATES[v.state],
    discovery: MODES[v.discovery],
    saveDir: v.saveDir,
    totalBytes: u(v.totalBytes),
    verifiedBytes: u(v.verifiedBytes),
    left: u(v.left),
    piecesVerified: v.piecesVerified,
    pieceCount: v.pieceCount,
    downloadRate: u(v.downloadRate),
    uploadRate: u(v.uploadRate),
    downloaded: u(v.downloaded),
    uploaded: u(v.uploaded),
    peers: v.peers,
    knownPeers: v.knownPeers,
    error: v.error,
    addedAt: BigInt(v.addedAt),
    completedAt: BigInt(v.completedAt),
    providerAddr: v.providerAddr,
    metadataPending: v.metadataPending,
  };
}

function discoveryFromWire(m: DiscoveryMode): Discovery {
  switch (m) {
    case DiscoveryMode.DISCOVERY_MODE_UNSPECIFIED:
    case DiscoveryMode.DISCOVERY_MODE_OVERLAY:
      return 'overlay';
    case DiscoveryMode.DISCOVERY_MODE_TRACKER:
      return 'tracker';
    case DiscoveryMode.DISCOVERY_MODE_BOTH:
      return 'both';
    default:
      throw new InvalidArgumentError('discovery', `unknown discovery mode ${String(m)}`);
  }
}

/**
 * Creates the service. `manager` returns undefined until the agent has started its
 * torrents (calls then fail UNAVAILABLE).
 */
export function createTorrentsService(
  manager: () => TorrentManager | undefined,
  limits: TorrentsServiceLimits,
): TorrentsServer {
  const m = (): TorrentManager => {
    const t = manager();
    if (t === undefined) throw new UnavailableError('torrents are not started yet');
    return t;
  };
  let watchers = 0;

  const watch = (call: ServerWritableStream<TorrentsWatchRequest, TorrentsWatchResponse>): void => {
    let mgr: TorrentManager;
    let only: string | null;
    try {
      mgr = m();
      only = call.request.id === '' ? null : mgr.resolveId(call.request.id);
      if (watchers >= limits.maxWatchStreams)
        throw new ResourceExhaustedError(
          'max_watch_streams',
          `this agent serves at most ${limits.maxWatchStreams} watch streams`,
        );
    } catch (err) {
      call.emit('error', toServiceError(err));
      return;
    }
    watchers++;
    let ended = false;
    // Latest-state semantics: while the client is slow, updates replace each other
    // instead of queueing without bound.
    const pending = new Map<string, TorrentsWatchResponse>();
    let blocked = false;
    const flush = (): void => {
      blocked = false;
      for (const [k, msg] of pending) {
        pending.delete(k);
        if (!call.write(msg)) {
          blocked = true;
          return;
        }
      }
    };
    const send = (v: TorrentView, removed: boolean): void => {
      if (ended || (only !== null && v.id !== only)) return;
      pending.set(v.id, { torrent: torrentToWire(v), removed });
      if (!blocked) flush();
      if (removed && only !== null) finish();
    };
    const onUpdate = (v: TorrentView): void => send(v, false);
    const onRemoved = (v: TorrentView): void => send(v, true);
    const finish = (): void => {
      if (ended) return;
      ended = true;
      watchers--;
      mgr.off('update', onUpdate);
      mgr.off('removed', onRemoved);
      mgr.off('closed', finish);
      call.end();
    };
    mgr.on('update', onUpdate);
    mgr.on('removed', onRemoved);
    // Shutdown ends the stream, so the server's graceful stop does not wait on it.
    mgr.on('closed', finish);
    call.on('drain', flush);
    call.on('cancelled', finish);
    call.on('close', finish);
    call.on('error', finish);
    for (const v of only === null ? mgr.list() : [mgr.get(only)]) send(v, false);
  };

  return {
    add: unary(async (req) => {
      const t = await m().add({
        torrent: req.torrent,
        magnet: req.magnet,
        saveDir: req.saveDir,
        discovery: discoveryFromWire(req.discovery),
        paused: req.paused,
      });
      return { torrent: torrentToWire(t) };
    }),
    list: unary(() => ({ torrents: m().list().map(torrentToWire) })),
    get: unary((req) => ({ torrent: torrentToWire(m().get(req.id)) })),
    remove: unary(async (req) => ({
      torrent: torrentToWire(await m().remove(req.id, req.deleteData)),
    })),
    pause: unary((req) => ({ torrent: torrentToWire(m().pause(req.id)) })),
    resume: unary(async (req) => ({ torrent: torrentToWire(await m().resume(req.id)) })),
    watch,
  };
}
