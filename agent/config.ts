import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { ConfigError, InvalidArgumentError } from './errors.js';
import { parseDuration } from './duration.js';
import { parseAddr } from './store/record.js';
import { DEFAULT_STORE_OPTIONS, type StoreOptions } from './store/store.js';
import { LEGACY_MODES, type LegacyMode } from './legacy/handler.js';
import { buildClusterConfig, type ClusterConfig, type RawClusterFlags } from './gossip/config.js';
import {
  buildTorrentsConfig,
  type RawTorrentFlags,
  type TorrentsConfig,
} from './torrents/config.js';
import {
  buildHttpTrackerConfig,
  type HttpTrackerConfig,
  type RawHttpTrackerFlags,
} from './tracker/config.js';
import { buildLimitsConfig, type LimitsConfig, type RawLimitFlags } from './limits/config.js';
import {
  buildSecurityConfig,
  type RawSecurityFlags,
  type SecurityConfig,
} from './security/config.js';
import { LOG_LEVELS, type LogLevel } from './log.js';

/** The validated configuration of one agent. Every field has a documented default. */
export interface AgentConfig {
  /** Host and port of the one listening socket (gRPC, legacy JSON and HTTP). */
  readonly listenHost: string;
  readonly listenPort: number;
  /** "host:port" other agents dial to reach this one. */
  readonly advertise: string;
  /** Other agents ("host:port") this one pushes gossip to. */
  readonly bootstrap: readonly string[];
  /** Unique id of this agent in the cluster. */
  readonly nodeId: string;
  readonly logLevel: LogLevel;
  /** Store bounds and timing (TTL, clock skew, provider and info-hash limits). */
  readonly store: StoreOptions;
  /** Largest gRPC message accepted or sent, bytes. */
  readonly maxMessageBytes: number;
  /** Largest `limit` a Lookup may ask for; 0 in a request means this. */
  readonly maxLookupLimit: number;
  /** Records per Gossip request, sent or accepted. */
  readonly maxGossipBatch: number;
  /** How often changed records are pushed to bootstrap peers, ms. */
  readonly gossipIntervalMs: number;
  /** How often every held record is pushed to bootstrap peers (repairs lost pushes), ms. */
  readonly fullSyncIntervalMs: number;
  /** Deadline of one outbound gossip call, ms. */
  readonly gossipTimeoutMs: number;
  /** Longest a graceful shutdown waits for in-flight calls, ms. */
  readonly shutdownGraceMs: number;
  /** The legacy JSON-over-TCP protocol (inbound on the port, outbound gossip). */
  readonly legacy: LegacyConfig;
  /** Membership (SWIM), gossip and anti-entropy settings (agent/gossip/config.ts). */
  readonly cluster: ClusterConfig;
  /** Torrents: data dir, peer-wire port, provider host (agent/torrents/config.ts). */
  readonly torrents: TorrentsConfig;
  /** Cluster key, identity, trusted keys, address checks, TLS, rate limits (agent/security/config.ts). */
  readonly security: SecurityConfig;
  /** The HTTP endpoint's bounds and the tracker (agent/tracker/config.ts). */
  readonly http: HttpTrackerConfig;
  /** Per-source connection cap, record budget, cluster rate limit (agent/limits/config.ts). */
  readonly limits: LimitsConfig;
}

/** The legacy protocol's mode, peers and bounds. */
export interface LegacyConfig {
  /** off: not spoken; read-only: lookups only; read-write: also announces and gossip. */
  readonly mode: LegacyMode;
  /** Legacy Go nodes ("host:port") the agent gossips its records to. */
  readonly peers: readonly string[];
  /** How often every info hash is gossiped to each legacy peer, ms (Go nodes: 8 s). */
  readonly gossipIntervalMs: number;
  /** Largest inbound message (one JSON value), bytes. */
  readonly maxLineBytes: number;
  /** An inbound message must be complete within this, ms. */
  readonly readTimeoutMs: number;
  /** Simultaneous inbound legacy connections. */
  readonly maxConnections: number;
  /** Providers per legacy message, inbound or outbound. */
  readonly maxProviders: number;
}

/** The flags of `btagent run` as strings, as parsed from argv or BTAGENT_* env vars. */
export interface RawAgentFlags
  extends RawClusterFlags, RawTorrentFlags, RawSecurityFlags, RawHttpTrackerFlags, RawLimitFlags {
  listen: string;
  advertise?: string;
  bootstrap: string;
  nodeId?: string;
  logLevel: string;
  ttl: string;
  maxSkew: string;
  maxProvidersPerInfoHash: string;
  maxInfoHashes: string;
  maxMessageBytes: string;
  gossipInterval: string;
  fullSyncInterval: string;
  legacyMode?: string;
  legacyPeers?: string;
  legacyGossipInterval?: string;
  legacyMaxLineBytes?: string;
  legacyReadTimeout?: string;
  legacyMaxConnections?: string;
  legacyMaxProviders?: string;
}

/** Defaults of the flags, shown in `btagent run --help`. */
export const FLAG_DEFAULTS = {
  listen: '0.0.0.0:6000',
  bootstrap: '',
  logLevel: 'info',
  ttl: '90s',
  maxSkew: '30s',
  maxProvidersPerInfoHash: String(DEFAULT_STORE_OPTIONS.maxProvidersPerInfoHash),
  maxInfoHashes: String(DEFAULT_STORE_OPTIONS.maxInfoHashes),
  maxMessageBytes: String(4 * 1024 * 1024),
  gossipInterval: '200ms',
  fullSyncInterval: '10s',
  legacyMode: 'read-write',
  legacyPeers: '',
  legacyGossipInterval: '8s',
  legacyMaxLineBytes: String(64 * 1024),
  legacyReadTimeout: '5s',
  legacyMaxConnections: '1024',
  legacyMaxProviders: '500',
} as const satisfies Partial<RawAgentFlags>;

function positiveInt(text: string, name: string, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(text.trim()))
    throw new ConfigError(`${name}: "${text}" is not a positive integer`);
  const n = Number(text.trim());
  if (n < 1 || n > max) throw new ConfigError(`${name}: ${n} is out of range 1-${max}`);
  return n;
}

function hostPort(
  text: string,
  name: string,
  allowPortZero = false,
): { host: string; port: number } {
  const probe = allowPortZero ? text.replace(/:0$/, ':1') : text;
  try {
    const { host } = parseAddr(probe, name);
    return { host, port: Number(text.slice(text.lastIndexOf(':') + 1)) };
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw new ConfigError(err.message);
    throw err;
  }
}

/** Validates raw flags into an AgentConfig. Throws ConfigError naming the flag. */
export function buildConfig(raw: RawAgentFlags): AgentConfig {
  const listen = hostPort(raw.listen, '--listen', true);
  const ttlMs = parseDuration(raw.ttl, '--ttl');
  if (ttlMs < 1000) throw new ConfigError('--ttl: must be at least 1s');
  const maxSkewMs = parseDuration(raw.maxSkew, '--max-skew');
  const bootstrap = raw.bootstrap
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  // `dns:NAME:PORT` entries are re-resolved by the gossip driver (Docker Swarm: tasks.NAME).
  for (const b of bootstrap) hostPort(b.startsWith('dns:') ? b.slice(4) : b, '--bootstrap');
  if (!(LOG_LEVELS as readonly string[]).includes(raw.logLevel)) {
    throw new ConfigError(`--log-level: "${raw.logLevel}" is not one of ${LOG_LEVELS.join(', ')}`);
  }
  let advertise = raw.advertise;
  if (advertise !== undefined && advertise !== '') hostPort(advertise, '--advertise');
  else {
    const host = listen.host === '0.0.0.0' || listen.host === '::' ? hostname() : listen.host;
    advertise = `${host.includes(':') ? `[${host}]` : host}:${listen.port}`;
  }
  const nodeId =
    raw.nodeId !== undefined && raw.nodeId !== ''
      ? raw.nodeId
      : `${hostname()}-${randomBytes(4).toString('hex')}`;
  if (!/^[\w.:@-]{1,128}$/.test(nodeId)) {
    throw new ConfigError(`--node-id: "${nodeId}" must be 1-128 of [A-Za-z0-9_.:@-]`);
  }
  // Origins "legacy:<ip>" mark records relayed from the legacy protocol (docs/security.md).
  if (nodeId.startsWith('legacy:'))
    throw new ConfigError('--node-id: must not start with "legacy:"');
  const gossipIntervalMs = parseDuration(raw.gossipInterval, '--gossip-interval');
  const limits = buildLimitsConfig(raw);
  return {
    listenHost: listen.host,
    listenPort: listen.port,
    advertise,
    bootstrap,
    nodeId,
    logLevel: raw.logLevel as LogLevel,
    store: {
      ttlMs,
      maxSkewMs,
      maxProvidersPerInfoHash: positiveInt(
        raw.maxProvidersPerInfoHash,
        '--max-providers-per-info-hash',
        100_000,
      ),
      maxInfoHashes: positiveInt(raw.maxInfoHashes, '--max-info-hashes', 100_000_000),
      maxRecords: limits.maxRecords,
    },
    maxMessageBytes: positiveInt(raw.maxMessageBytes, '--max-message-bytes', 64 * 1024 * 1024),
    maxLookupLimit: 1000,
    maxGossipBatch: 5000,
    gossipIntervalMs: Math.max(10, gossipIntervalMs),
    fullSyncIntervalMs: Math.max(1000, parseDuration(raw.fullSyncInterval, '--full-sync-interval')),
    gossipTimeoutMs: 2000,
    shutdownGraceMs: 4000,
    legacy: buildLegacyConfig(raw),
    cluster: buildClusterConfig(
      raw,
      Math.max(10, gossipIntervalMs),
      Math.max(1000, parseDuration(raw.fullSyncInterval, '--full-sync-interval')),
    ),
    torrents: buildTorrentsConfig(raw, advertise),
    security: buildSecurityConfig(raw),
    http: buildHttpTrackerConfig(raw, ttlMs),
    limits,
  };
}

function buildLegacyConfig(raw: RawAgentFlags): LegacyConfig {
  const mode = raw.legacyMode ?? FLAG_DEFAULTS.legacyMode;
  if (!(LEGACY_MODES as readonly string[]).includes(mode)) {
    throw new ConfigError(`--legacy-mode: "${mode}" is not one of ${LEGACY_MODES.join(', ')}`);
  }
  const peers = (raw.legacyPeers ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  for (const p of peers) hostPort(p, '--legacy-peers');
  const readTimeoutMs = parseDuration(
    raw.legacyReadTimeout ?? FLAG_DEFAULTS.legacyReadTimeout,
    '--legacy-read-timeout',
  );
  return {
    mode: mode as LegacyMode,
    peers,
    gossipIntervalMs: Math.max(
      100,
      parseDuration(
        raw.legacyGossipInterval ?? FLAG_DEFAULTS.legacyGossipInterval,
        '--legacy-gossip-interval',
      ),
    ),
    maxLineBytes: positiveInt(
      raw.legacyMaxLineBytes ?? FLAG_DEFAULTS.legacyMaxLineBytes,
      '--legacy-max-line-bytes',
      16 * 1024 * 1024,
    ),
    readTimeoutMs: Math.max(10, readTimeoutMs),
    maxConnections: positiveInt(
      raw.legacyMaxConnections ?? FLAG_DEFAULTS.legacyMaxConnections,
      '--legacy-max-connections',
      1_000_000,
    ),
    maxProviders: positiveInt(
      raw.legacyMaxProviders ?? FLAG_DEFAULTS.legacyMaxProviders,
      '--legacy-max-providers',
      500,
    ),
  };
}
