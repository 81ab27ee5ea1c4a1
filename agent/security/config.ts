import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { ConfigError } from '../errors.js';
import {
  addAdminFlags,
  buildAdminConfig,
  type AdminConfig,
  type RawAdminFlags,
} from './admin-config.js';
import { resolveDataDir } from '../paths.js';
import { ClusterKeyError, parseClusterKeys, type ClusterKeyring } from './cluster-key.js';
import { parseRate, type RateLimitOptions } from './rate-limit.js';
import { SourceSet } from './sources.js';
import { readTls, TlsConfigError, type TlsMaterial } from './tls.js';
import { parseTrustedKeys, TrustedKeysError, type TrustedKeys } from './trusted-keys.js';

/** The validated security settings of one agent (docs/security.md). */
export interface SecurityConfig {
  /** Cluster keys read from --cluster-key (and --cluster-key-old); undefined otherwise. */
  readonly clusterKeys: ClusterKeyring | undefined;
  /**
   * Where the cluster key comes from: 'file' (--cluster-key), 'generate' (the
   * default: `cluster.key` in the data dir, created at first start) or 'off'
   * (--no-cluster-key: agent-to-agent traffic unauthenticated).
   */
  readonly clusterKeyMode: 'file' | 'generate' | 'off';
  /** Where the Ed25519 identity (and a generated cluster key) persist: the resolved data dir. */
  readonly identityDir: string | undefined;
  /** Accepted record signer keys (--trusted-keys); undefined = any valid signature. */
  readonly trustedKeys: TrustedKeys | undefined;
  /** Callers exempt from the announce address check and rate limits (--trusted-sources). */
  readonly trustedSources: SourceSet;
  /** Sources whose legacy gossip/announce is applied, besides --legacy-peers (--legacy-sources). */
  readonly legacySources: SourceSet;
  /** --allow-foreign-addr: announces may name any host. */
  readonly allowForeignAddr: boolean;
  /** gRPC TLS (--tls-cert, --tls-key, --tls-ca, --tls-server-name); undefined = plaintext. */
  readonly tls: TlsMaterial | undefined;
  /** Per-source limits of inbound legacy connections and tracker requests. */
  readonly legacyRate: RateLimitOptions;
  readonly trackerRate: RateLimitOptions;
  /** Per-source limit of gRPC Announce calls (withdrawals included). */
  readonly announceRate: RateLimitOptions;
  /** Per-source limit of the operator reads open to all: /metrics, Control.Status/Members/Digest. */
  readonly statusRate: RateLimitOptions;
  /** Who may call admin methods (--admin-sources, --admin-token-file, --admin-tls-ca). */
  readonly admin: AdminConfig;
  /** Per-source limit of Gossip/Exchange calls and cluster datagrams (agent/limits/config.ts). */
  readonly clusterRate?: RateLimitOptions;
}

/** The raw security flags. */
export interface RawSecurityFlags extends RawAdminFlags {
  /** A file, or false for --no-cluster-key (commander's negation of --cluster-key). */
  clusterKey?: string | false;
  clusterKeyOld?: string;
  /** Defined by the torrents' flags; read here only to place the identity. */
  dataDir?: string;
  trustedKeys?: string;
  trustedSources?: string;
  legacySources?: string;
  allowForeignAddr?: boolean | string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  tlsServerName?: string;
  legacyRateLimit?: string;
  legacyRateBurst?: string;
  trackerRateLimit?: string;
  trackerRateBurst?: string;
  announceRateLimit?: string;
  announceRateBurst?: string;
  statusRateLimit?: string;
  statusRateBurst?: string;
  rateLimitSources?: string;
}

/**
 * Defaults. Rate limits: a Go client looks up a few times a minute and a Go node
 * gossips one connection per info hash every 8 s, so 200/s with a burst of
 * 2000 per address leaves honest legacy traffic alone (list busier legacy
 * nodes in --trusted-sources); BitTorrent clients announce to a tracker every
 * few minutes (BEP 3 `interval`), so 20/s with a burst of 100 is generous.
 * gRPC Announce is what a tracker announce is, one torrent a call: 20/s with a
 * burst of 200 lets a host (re)announce 200 torrents at once, and caps what one
 * untrusted host can hold at burst + rate × TTL (1 900 records with the 90 s
 * TTL, under 0.1 % of the default --max-records), so it cannot spend the budget
 * everyone shares. /metrics and Control.Status/Members/Digest are read by a
 * Prometheus every 15 s and by btctl (convergence --watch: once a second): 5/s
 * with a burst of 20 is far above both, and keeps their cost per source small.
 */
export const SECURITY_FLAG_DEFAULTS = {
  trustedSources: '127.0.0.0/8,::1',
  /**
   * Legacy writes are unauthenticated by nature, so by default only this host's
   * own processes may make them (like --trusted-sources); Go nodes are listed
   * in --legacy-peers or here.
   */
  legacySources: '127.0.0.0/8,::1',
  legacyRateLimit: '200/s',
  legacyRateBurst: '2000',
  trackerRateLimit: '20/s',
  trackerRateBurst: '100',
  announceRateLimit: '20/s',
  announceRateBurst: '200',
  statusRateLimit: '5/s',
  statusRateBurst: '20',
  rateLimitSources: '65536',
} as const;

/** Adds the security flags to `btagent run`. */
export function addSecurityFlags(cmd: Command): Command {
  const d = SECURITY_FLAG_DEFAULTS;
  const f = (flags: string, desc: string, env: string, def?: string): Option => {
    const o = new Option(flags, desc).env(env);
    return def === undefined ? o : o.default(def);
  };
  addAdminFlags(cmd); // admin-config.ts (adds in place)
  return cmd
    .addOption(
      f(
        '--cluster-key <file>',
        'shared keys (one per line, first signs) authenticating agent-to-agent messages (default: cluster.key generated in the data dir)',
        'BTAGENT_CLUSTER_KEY',
      ),
    )
    .addOption(
      new Option(
        '--no-cluster-key',
        'unauthenticated agent-to-agent traffic: anyone who reaches the port may gossip (unsafe)',
      ).env('BTAGENT_NO_CLUSTER_KEY'),
    )
    .addOption(
      f(
        '--cluster-key-old <file>',
        'more keys accepted but not used to sign (key rotation)',
        'BTAGENT_CLUSTER_KEY_OLD',
      ),
    )
    .addOption(
      f(
        '--trusted-keys <file>',
        'accept records only from these Ed25519 keys ("KEY [NODE-ID]" per line)',
        'BTAGENT_TRUSTED_KEYS',
      ),
    )
    .addOption(
      f(
        '--trusted-sources <cidr,...>',
        'callers that may announce any address and are not rate-limited',
        'BTAGENT_TRUSTED_SOURCES',
        d.trustedSources,
      ),
    )
    .addOption(
      f(
        '--legacy-sources <cidr,...>',
        'sources whose legacy gossip/announce is applied, besides --legacy-peers (lookups: anyone)',
        'BTAGENT_LEGACY_SOURCES',
        d.legacySources,
      ),
    )
    .addOption(
      new Option(
        '--allow-foreign-addr',
        'accept announces whose addr is not the caller (off: only trusted callers may)',
      ).env('BTAGENT_ALLOW_FOREIGN_ADDR'),
    )
    .addOption(f('--tls-cert <file>', 'gRPC TLS certificate (PEM)', 'BTAGENT_TLS_CERT'))
    .addOption(f('--tls-key <file>', 'gRPC TLS private key (PEM)', 'BTAGENT_TLS_KEY'))
    .addOption(
      f(
        '--tls-ca <file>',
        'CA bundle (PEM): require client certificates it signed; verify other agents',
        'BTAGENT_TLS_CA',
      ),
    )
    .addOption(
      f(
        '--tls-server-name <name>',
        "name other agents' certificates are checked against (default: the dialled host)",
        'BTAGENT_TLS_SERVER_NAME',
      ),
    )
    .addOption(
      f(
        '--legacy-rate-limit <n/s>',
        'legacy connections per second per source address',
        'BTAGENT_LEGACY_RATE_LIMIT',
        d.legacyRateLimit,
      ),
    )
    .addOption(
      f(
        '--legacy-rate-burst <n>',
        'legacy connections a source may open at once',
        'BTAGENT_LEGACY_RATE_BURST',
        d.legacyRateBurst,
      ),
    )
    .addOption(
      f(
        '--tracker-rate-limit <n/s>',
        'tracker requests per second per source address',
        'BTAGENT_TRACKER_RATE_LIMIT',
        d.trackerRateLimit,
      ),
    )
    .addOption(
      f(
        '--tracker-rate-burst <n>',
        'tracker requests a source may make at once',
        'BTAGENT_TRACKER_RATE_BURST',
        d.trackerRateBurst,
      ),
    )
    .addOption(
      f(
        '--announce-rate-limit <n/s>',
        'gRPC Announce calls (withdrawals too) per second per source address',
        'BTAGENT_ANNOUNCE_RATE_LIMIT',
        d.announceRateLimit,
      ),
    )
    .addOption(
      f(
        '--announce-rate-burst <n>',
        'gRPC Announce calls a source may make at once',
        'BTAGENT_ANNOUNCE_RATE_BURST',
        d.announceRateBurst,
      ),
    )
    .addOption(
      f(
        '--status-rate-limit <n/s>',
        '/metrics scrapes and Control Status/Members/Digest calls per second per source address',
        'BTAGENT_STATUS_RATE_LIMIT',
        d.statusRateLimit,
      ),
    )
    .addOption(
      f(
        '--status-rate-burst <n>',
        '/metrics scrapes and Control calls a source may make at once',
        'BTAGENT_STATUS_RATE_BURST',
        d.statusRateBurst,
      ),
    )
    .addOption(
      f(
        '--rate-limit-sources <n>',
        'source addresses tracked per rate limit (least recent forgotten)',
        'BTAGENT_RATE_LIMIT_SOURCES',
        d.rateLimitSources,
      ),
    );
}

function readText(path: string, flag: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`${flag}: cannot read ${path} (${(err as NodeJS.ErrnoException).code})`);
  }
}

function count(text: string, flag: string, max: number): number {
  const t = text.trim();
  const n = /^\d+$/.test(t) ? Number(t) : NaN;
  if (!(n >= 1 && n <= max)) throw new ConfigError(`${flag}: "${text}" is not an integer 1-${max}`);
  return n;
}

function rate(text: string, flag: string): number {
  const r = parseRate(text);
  if (r === undefined)
    throw new ConfigError(`${flag}: "${text}" is not a rate like 100/s or 600/min`);
  return r;
}

function truthy(v: boolean | string | undefined): boolean {
  if (typeof v === 'string') return !['', '0', 'false', 'no', 'off'].includes(v.toLowerCase());
  return v === true;
}

/** Validates the security flags, reading the key and certificate files. Throws ConfigError naming the flag. */
export function buildSecurityConfig(raw: RawSecurityFlags): SecurityConfig {
  const d = SECURITY_FLAG_DEFAULTS;
  let clusterKeys: ClusterKeyring | undefined;
  if (raw.clusterKey === false && raw.clusterKeyOld) {
    throw new ConfigError('--cluster-key-old: cannot be used with --no-cluster-key');
  }
  if (raw.clusterKey) {
    const flag = raw.clusterKeyOld ? '--cluster-key/--cluster-key-old' : '--cluster-key';
    try {
      clusterKeys = parseClusterKeys(
        readText(raw.clusterKey, '--cluster-key'),
        raw.clusterKeyOld ? [readText(raw.clusterKeyOld, '--cluster-key-old')] : [],
      );
    } catch (err) {
      if (err instanceof ClusterKeyError) throw new ConfigError(`${flag}: ${err.message}`);
      throw err;
    }
  } else if (raw.clusterKeyOld) {
    throw new ConfigError('--cluster-key-old: needs --cluster-key (the key that signs)');
  }
  let trustedKeys: TrustedKeys | undefined;
  if (raw.trustedKeys) {
    try {
      trustedKeys = parseTrustedKeys(readText(raw.trustedKeys, '--trusted-keys'));
    } catch (err) {
      if (err instanceof TrustedKeysError) throw new ConfigError(`--trusted-keys: ${err.message}`);
      throw err;
    }
  }
  const sources = (text: string, flag: string): SourceSet => {
    try {
      return SourceSet.parse(text);
    } catch (err) {
      throw new ConfigError(`${flag}: ${(err as Error).message}`);
    }
  };
  const trustedSources = sources(raw.trustedSources ?? d.trustedSources, '--trusted-sources');
  const legacySources = sources(raw.legacySources ?? d.legacySources, '--legacy-sources');
  let tls: TlsMaterial | undefined;
  try {
    tls = readTls(
      { cert: raw.tlsCert, key: raw.tlsKey, ca: raw.tlsCa, serverName: raw.tlsServerName },
      'server',
    );
  } catch (err) {
    if (err instanceof TlsConfigError) throw new ConfigError(err.message);
    throw err;
  }
  const maxSources = count(
    raw.rateLimitSources ?? d.rateLimitSources,
    '--rate-limit-sources',
    10_000_000,
  );
  return {
    clusterKeys,
    clusterKeyMode: raw.clusterKey === false ? 'off' : clusterKeys ? 'file' : 'generate',
    identityDir: resolveDataDir(raw.dataDir),
    trustedKeys,
    trustedSources,
    legacySources,
    allowForeignAddr: truthy(raw.allowForeignAddr),
    tls,
    legacyRate: {
      ratePerSec: rate(raw.legacyRateLimit ?? d.legacyRateLimit, '--legacy-rate-limit'),
      burst: count(raw.legacyRateBurst ?? d.legacyRateBurst, '--legacy-rate-burst', 1_000_000),
      maxSources,
    },
    trackerRate: {
      ratePerSec: rate(raw.trackerRateLimit ?? d.trackerRateLimit, '--tracker-rate-limit'),
      burst: count(raw.trackerRateBurst ?? d.trackerRateBurst, '--tracker-rate-burst', 1_000_000),
      maxSources,
    },
    announceRate: {
      ratePerSec: rate(raw.announceRateLimit ?? d.announceRateLimit, '--announce-rate-limit'),
      burst: count(
        raw.announceRateBurst ?? d.announceRateBurst,
        '--announce-rate-burst',
        1_000_000,
      ),
      maxSources,
    },
    statusRate: {
      ratePerSec: rate(raw.statusRateLimit ?? d.statusRateLimit, '--status-rate-limit'),
      burst: count(raw.statusRateBurst ?? d.statusRateBurst, '--status-rate-burst', 1_000_000),
      maxSources,
    },
    admin: buildAdminConfig(raw, tls !== undefined),
  };
}
