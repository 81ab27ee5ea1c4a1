/**
 * Flags of the agent's remote-input bounds (`btagent run --max-connections-per-source
 * --max-records --cluster-rate-*`, or BTAGENT_* env vars), validated. docs/security.md
 * lists each bound with its default and reason.
 */
import { Option, type Command } from 'commander';
import { ConfigError } from '../errors.js';
import { parseRate, type RateLimitOptions } from '../security/rate-limit.js';
import { DEFAULT_MAX_CONNECTIONS_PER_SOURCE } from '../transport/connection-limit.js';
import { defaultMaxRecords } from './record-budget.js';

/** The validated bounds. */
export interface LimitsConfig {
  /** Connections one source address may hold open on the port (every protocol together). */
  readonly maxConnectionsPerSource: number;
  /** Records (live and tombstones) the Store holds at most. */
  readonly maxRecords: number;
  /** Per-source limit of Overlay.Gossip and Cluster.Exchange calls and cluster datagrams. */
  readonly clusterRate: Omit<RateLimitOptions, 'maxSources'>;
  /**
   * Ports one provider host (an IPv6 /64) may announce per info hash through an
   * untrusted gRPC or tracker announce; past it new ones are refused.
   */
  readonly maxProvidersPerHost: number;
}

/** The flags as strings (all optional). */
export interface RawLimitFlags {
  maxConnectionsPerSource?: string;
  maxRecords?: string;
  clusterRateLimit?: string;
  clusterRateBurst?: string;
  maxProvidersPerHost?: string;
}

/**
 * Defaults. A member calls another with gossip every 200 ms, a SWIM probe a
 * second and an anti-entropy round every few seconds — about 10 calls a second
 * per source, whatever the records per call (issue 17's bursts of thousands of
 * records per second travel in 5 000-record batches). 500/s sustained with a
 * burst of 2 000 is 50 times that, so no member is throttled, while one flooding
 * host is held to what the agent turns down cheaply. `maxRecords`: see
 * `defaultMaxRecords`. A BitTorrent client runs one listen port per torrent, a
 * household or office behind one NAT address a few clients: 8 ports per host
 * and info hash covers them, while one host can no longer fill a swarm's 1 000
 * places (and every newest-first reply) by announcing port after port.
 */
export const LIMIT_FLAG_DEFAULTS = {
  maxConnectionsPerSource: String(DEFAULT_MAX_CONNECTIONS_PER_SOURCE),
  clusterRateLimit: '500/s',
  clusterRateBurst: '2000',
  maxProvidersPerHost: '8',
} as const;

/** Adds the bounds' flags to `btagent run`. */
export function addLimitFlags(cmd: Command): Command {
  const d = LIMIT_FLAG_DEFAULTS;
  return cmd
    .addOption(
      new Option(
        '--max-connections-per-source <n>',
        'connections one address may hold open on the port, all protocols together (--trusted-sources exempt)',
      )
        .env('BTAGENT_MAX_CONNECTIONS_PER_SOURCE')
        .default(d.maxConnectionsPerSource),
    )
    .addOption(
      new Option(
        '--max-records <n>',
        'records the Store holds at most (default: sized from the heap limit, see docs/security.md)',
      ).env('BTAGENT_MAX_RECORDS'),
    )
    .addOption(
      new Option(
        '--cluster-rate-limit <n/s>',
        'Gossip/Exchange calls and cluster datagrams per second per source address',
      )
        .env('BTAGENT_CLUSTER_RATE_LIMIT')
        .default(d.clusterRateLimit),
    )
    .addOption(
      new Option('--cluster-rate-burst <n>', 'Gossip/Exchange calls a source may make at once')
        .env('BTAGENT_CLUSTER_RATE_BURST')
        .default(d.clusterRateBurst),
    )
    .addOption(
      new Option(
        '--max-providers-per-host <n>',
        'ports one host (an IPv6 /64) may announce per info hash from outside --trusted-sources',
      )
        .env('BTAGENT_MAX_PROVIDERS_PER_HOST')
        .default(d.maxProvidersPerHost),
    );
}

/** An integer flag in [1, max]; ConfigError naming the flag otherwise. */
function bounded(text: string, flag: string, max: number): number {
  const n = /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
  if (Number.isSafeInteger(n) && n >= 1 && n <= max) return n;
  throw new ConfigError(`${flag}: "${text}" must be an integer from 1 to ${max}`);
}

/** Validates the bounds' flags. Throws ConfigError naming the flag. */
export function buildLimitsConfig(raw: RawLimitFlags): LimitsConfig {
  const d = LIMIT_FLAG_DEFAULTS;
  const ratePerSec = parseRate(raw.clusterRateLimit ?? d.clusterRateLimit);
  if (ratePerSec === undefined) {
    throw new ConfigError(
      `--cluster-rate-limit: "${raw.clusterRateLimit}" is not a rate like 500/s or 600/min`,
    );
  }
  const records = raw.maxRecords?.trim();
  return {
    maxConnectionsPerSource: bounded(
      raw.maxConnectionsPerSource ?? d.maxConnectionsPerSource,
      '--max-connections-per-source',
      1_000_000,
    ),
    maxRecords:
      records === undefined || records === ''
        ? defaultMaxRecords()
        : bounded(records, '--max-records', 1_000_000_000),
    maxProvidersPerHost: bounded(
      raw.maxProvidersPerHost ?? d.maxProvidersPerHost,
      '--max-providers-per-host',
      1_000_000,
    ),
    clusterRate: {
      ratePerSec,
      burst: bounded(
        raw.clusterRateBurst ?? d.clusterRateBurst,
        '--cluster-rate-burst',
        10_000_000,
      ),
    },
  };
}
