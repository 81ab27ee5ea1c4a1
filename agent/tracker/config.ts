/**
 * Flags of the HTTP side of the agent's port and its tracker endpoint
 * (`btagent run --tracker-* --http-*`, or BTAGENT_* env vars), validated.
 */
import { Option, type Command } from 'commander';
import { parseDuration } from '../duration.js';
import { ConfigError } from '../errors.js';
import { DEFAULT_TRACKER_OPTIONS, type TrackerOptions } from './tracker.js';

/** The HTTP endpoint's bounds and the tracker's settings. */
export interface HttpTrackerConfig {
  /** on: GET /announce and /scrape are served; off: 404 like any unknown path. */
  readonly trackerEnabled: boolean;
  readonly tracker: TrackerOptions;
  /** Simultaneous HTTP connections. */
  readonly httpMaxConnections: number;
  /** A request must be complete within this, ms (slow clients are cut with 408). */
  readonly httpRequestTimeoutMs: number;
}

/** The flags as strings (all optional; defaults below). */
export interface RawHttpTrackerFlags {
  tracker?: string;
  trackerInterval?: string;
  trackerMaxNumwant?: string;
  trackerTrustIp?: boolean;
  httpMaxConnections?: string;
  httpRequestTimeout?: string;
}

/** Defaults of the flags, shown in `btagent run --help`. */
export const HTTP_TRACKER_FLAG_DEFAULTS = {
  tracker: 'on',
  trackerInterval: `${DEFAULT_TRACKER_OPTIONS.intervalSec}s`,
  trackerMaxNumwant: String(DEFAULT_TRACKER_OPTIONS.maxNumwant),
  httpMaxConnections: '1024',
  httpRequestTimeout: '10s',
} as const;

function count(text: string, name: string, min: number, max: number): number {
  if (!/^\d+$/.test(text.trim())) throw new ConfigError(`${name}: "${text}" is not an integer`);
  const n = Number(text.trim());
  if (n < min || n > max) throw new ConfigError(`${name}: ${n} is out of range ${min}-${max}`);
  return n;
}

/**
 * Validates the flags. `ttlMs` is the Store's TTL: a client re-announcing every
 * interval must stay live in between, so the interval must be under half of it.
 */
export function buildHttpTrackerConfig(raw: RawHttpTrackerFlags, ttlMs: number): HttpTrackerConfig {
  const d = HTTP_TRACKER_FLAG_DEFAULTS;
  const mode = raw.tracker ?? d.tracker;
  if (mode !== 'on' && mode !== 'off') {
    throw new ConfigError(`--tracker: "${mode}" is not one of on, off`);
  }
  // Unset: the default, capped at half the TTL, so a short --ttl alone is a valid config.
  const intervalMs =
    raw.trackerInterval === undefined
      ? Math.max(1000, Math.min(parseDuration(d.trackerInterval, '--tracker-interval'), ttlMs / 2))
      : parseDuration(raw.trackerInterval, '--tracker-interval');
  if (intervalMs < 1000 || intervalMs * 2 > ttlMs) {
    throw new ConfigError(
      `--tracker-interval: must be 1s or more and at most half of --ttl (${ttlMs / 1000}s)`,
    );
  }
  const intervalSec = Math.floor(intervalMs / 1000);
  const requestTimeoutMs = parseDuration(
    raw.httpRequestTimeout ?? d.httpRequestTimeout,
    '--http-request-timeout',
  );
  if (requestTimeoutMs < 100) throw new ConfigError('--http-request-timeout: at least 100ms');
  return {
    trackerEnabled: mode === 'on',
    tracker: {
      ...DEFAULT_TRACKER_OPTIONS,
      intervalSec,
      minIntervalSec: Math.max(1, Math.floor(intervalSec / 2)),
      maxNumwant: count(
        raw.trackerMaxNumwant ?? d.trackerMaxNumwant,
        '--tracker-max-numwant',
        1,
        1000,
      ),
      trustIp: raw.trackerTrustIp === true,
    },
    httpMaxConnections: count(
      raw.httpMaxConnections ?? d.httpMaxConnections,
      '--http-max-connections',
      1,
      1_000_000,
    ),
    httpRequestTimeoutMs: requestTimeoutMs,
  };
}

/** Adds the flags to `btagent run`. */
export function addHttpTrackerFlags(cmd: Command): Command {
  const d = HTTP_TRACKER_FLAG_DEFAULTS;
  const f = (flags: string, desc: string, env: string, def?: string): Option => {
    const o = new Option(flags, desc).env(env);
    return def === undefined ? o : o.default(def);
  };
  return cmd
    .addOption(
      f(
        '--tracker <on|off>',
        'HTTP tracker endpoint (GET /announce, /scrape)',
        'BTAGENT_TRACKER',
        d.tracker,
      ),
    )
    .addOption(
      f(
        '--tracker-interval <duration>',
        `re-announce interval told to BitTorrent clients, at most half of --ttl (default: ${d.trackerInterval}, or half of --ttl if shorter)`,
        'BTAGENT_TRACKER_INTERVAL',
      ),
    )
    .addOption(
      f(
        '--tracker-max-numwant <n>',
        'most peers in one announce reply',
        'BTAGENT_TRACKER_MAX_NUMWANT',
        d.trackerMaxNumwant,
      ),
    )
    .addOption(
      f(
        '--tracker-trust-ip',
        "honour announces' ip parameter from any host (default: only from loopback)",
        'BTAGENT_TRACKER_TRUST_IP',
      ),
    )
    .addOption(
      f(
        '--http-max-connections <n>',
        'simultaneous HTTP connections (tracker, metrics)',
        'BTAGENT_HTTP_MAX_CONNECTIONS',
        d.httpMaxConnections,
      ),
    )
    .addOption(
      f(
        '--http-request-timeout <duration>',
        'an HTTP request must arrive in full within this',
        'BTAGENT_HTTP_REQUEST_TIMEOUT',
        d.httpRequestTimeout,
      ),
    );
}
