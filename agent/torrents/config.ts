/**
 * Flags and configuration of the agent's torrents: where state persists, the peer-wire
 * port, and the host announced to the overlay. Kept beside the feature (like gossip's)
 * so the shared config only composes it.
 */
import { join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { ConfigError, InvalidArgumentError } from '../errors.js';
import { resolveDataDir } from '../paths.js';
import { parseAddr } from '../store/record.js';

/** The validated torrent settings of one agent. */
export interface TorrentsConfig {
  /** Absolute directory holding torrents, resume state and default downloads. */
  readonly dataDir: string;
  /** Peer-wire TCP port (BEP 3) shared by every torrent; 0 = ephemeral. */
  readonly peerPort: number;
  /** Host the agent announces as its torrents' provider address (with the peer port). */
  readonly advertiseHost: string;
  /** Torrents one agent runs at most. */
  readonly maxTorrents: number;
  /** Absolute directory every API-chosen save directory must be inside (save-dir.ts). */
  readonly downloadRoot: string;
  /** The operator lifted that bound (`--allow-any-save-dir`). */
  readonly allowAnySaveDir: boolean;
}

/** The raw flags, as commander parses them from argv or BTAGENT_* env vars. */
export interface RawTorrentFlags {
  dataDir?: string;
  peerPort?: string;
  advertiseHost?: string;
  maxTorrents?: string;
  downloadRoot?: string;
  allowAnySaveDir?: boolean;
}

/** Defaults of the flags, shown in `btagent run --help`. */
export const TORRENT_FLAG_DEFAULTS = {
  /** The conventional BitTorrent port (BEP 3 suggests 6881-6889). */
  peerPort: '6881',
  maxTorrents: '500',
} as const;

/**
 * Adds --data-dir, --peer-port, --advertise-host, --max-torrents, --download-root and
 * --allow-any-save-dir to `btagent run`.
 */
export function addTorrentFlags(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--data-dir <dir>',
        'where identity, cluster key, torrents and their progress persist, created 0700 (default: $XDG_DATA_HOME/btoverlay or ~/.local/share/btoverlay)',
      ).env('BTAGENT_DATA_DIR'),
    )
    .addOption(
      new Option('--peer-port <port>', 'BitTorrent peer-wire port of all torrents (0 = any free)')
        .env('BTAGENT_PEER_PORT')
        .default(TORRENT_FLAG_DEFAULTS.peerPort),
    )
    .addOption(
      new Option(
        '--advertise-host <host>',
        "host announced to the overlay with the peer port (default: --advertise's host)",
      ).env('BTAGENT_ADVERTISE_HOST'),
    )
    .addOption(
      new Option('--max-torrents <n>', 'torrents this agent runs at most')
        .env('BTAGENT_MAX_TORRENTS')
        .default(TORRENT_FLAG_DEFAULTS.maxTorrents),
    )
    .addOption(
      new Option(
        '--download-root <dir>',
        'torrents added through the API save inside this directory; relative save dirs resolve against it (default: <data-dir>/downloads)',
      ).env('BTAGENT_DOWNLOAD_ROOT'),
    )
    .addOption(
      new Option(
        '--allow-any-save-dir',
        'let Torrents.Add callers save to any absolute directory the agent can write (unsafe unless the API is trusted)',
      ).env('BTAGENT_ALLOW_ANY_SAVE_DIR'),
    );
}

/**
 * Validates the raw flags. `advertise` is the agent's "host:port" advertise address,
 * whose host is the default provider host. Throws ConfigError naming the flag.
 */
export function buildTorrentsConfig(raw: RawTorrentFlags, advertise: string): TorrentsConfig {
  const portText = (raw.peerPort ?? TORRENT_FLAG_DEFAULTS.peerPort).trim();
  const peerPort = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(peerPort >= 0 && peerPort <= 65535))
    throw new ConfigError(`--peer-port: "${raw.peerPort}" is not a port (0-65535)`);
  const maxText = (raw.maxTorrents ?? TORRENT_FLAG_DEFAULTS.maxTorrents).trim();
  const maxTorrents = /^\d{1,6}$/.test(maxText) ? Number(maxText) : 0;
  if (maxTorrents < 1)
    throw new ConfigError(`--max-torrents: "${raw.maxTorrents}" is not an integer 1-999999`);
  let host = raw.advertiseHost?.trim() ?? '';
  if (host === '') host = advertise.slice(0, advertise.lastIndexOf(':'));
  host = host.replace(/^\[(.*)\]$/, '$1');
  try {
    // The same grammar the Store applies to provider addresses.
    parseAddr(host.includes(':') ? `[${host}]:1` : `${host}:1`, '--advertise-host');
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw new ConfigError(err.message);
    throw err;
  }
  if (host === '0.0.0.0' || host === '::')
    throw new ConfigError(`--advertise-host: "${host}" is not an address peers can dial`);
  const dataDir = resolveDataDir(raw.dataDir);
  const rootText = raw.downloadRoot?.trim() ?? '';
  if (rootText.includes('\0')) throw new ConfigError('--download-root: is not a usable path');
  const downloadRoot = rootText === '' ? join(dataDir, 'downloads') : resolve(rootText);
  return {
    dataDir,
    peerPort,
    advertiseHost: host,
    maxTorrents,
    downloadRoot,
    allowAnySaveDir: raw.allowAnySaveDir === true,
  };
}
