import { Option, type Command } from 'commander';
import { parseDuration } from '../duration.js';
import { ConfigError } from '../errors.js';
import { DEFAULT_MEMBERSHIP_OPTIONS, type MembershipOptions } from '../membership/swim.js';
import { validBucketCount } from '../store/digest.js';
import type { GossipDriverOptions } from './driver.js';
import { DEFAULT_GOSSIP_OPTIONS, type GossipOptions } from './node.js';

/**
 * Everything tunable about membership and gossip, in one object: the SWIM
 * timings, the dissemination and anti-entropy settings, and the driver's I/O
 * bounds. Built from `btagent run` flags (and BTAGENT_* env vars).
 */
export interface ClusterConfig {
  readonly membership: MembershipOptions;
  readonly gossip: GossipOptions;
  readonly driver: Omit<GossipDriverOptions, 'maxMessageBytes'>;
  /** `udp`: SWIM probes as datagrams on the agent's port number (default); `grpc`: all over gRPC. */
  readonly probeTransport: 'udp' | 'grpc';
  /**
   * A joining agent reports NOT_SERVING until its first full sync is done, or this
   * long at most (then it serves what it has, and repair completes it).
   */
  readonly joinSyncTimeoutMs: number;
}

/** Cluster flags of `btagent run` as strings (all optional; defaults below). */
export interface RawClusterFlags {
  fanout?: string;
  probeInterval?: string;
  probeTimeout?: string;
  indirectProbes?: string;
  suspicionMin?: string;
  suspicionMax?: string;
  reapInterval?: string;
  digestBuckets?: string;
  bootstrapResolveInterval?: string;
  leaveWait?: string;
  probeTransport?: string;
  joinSyncTimeout?: string;
}

/** Defaults of the cluster flags. */
export const CLUSTER_FLAG_DEFAULTS = {
  fanout: String(DEFAULT_GOSSIP_OPTIONS.fanout),
  probeInterval: `${DEFAULT_MEMBERSHIP_OPTIONS.probeIntervalMs}ms`,
  probeTimeout: `${DEFAULT_MEMBERSHIP_OPTIONS.probeTimeoutMs}ms`,
  indirectProbes: String(DEFAULT_MEMBERSHIP_OPTIONS.indirectProbes),
  suspicionMin: `${DEFAULT_MEMBERSHIP_OPTIONS.suspicionMinMs}ms`,
  suspicionMax: `${DEFAULT_MEMBERSHIP_OPTIONS.suspicionMaxMs}ms`,
  reapInterval: `${DEFAULT_MEMBERSHIP_OPTIONS.reapMs}ms`,
  digestBuckets: String(DEFAULT_GOSSIP_OPTIONS.digestBuckets),
  bootstrapResolveInterval: '30s',
  leaveWait: '1s',
  probeTransport: 'udp',
  // A full pull moves ~10 000 records a second (the repair budget): 30 s covers a
  // store of a few hundred thousand records, and stays within a Docker
  // HEALTHCHECK's usual start period.
  joinSyncTimeout: '30s',
} as const satisfies Required<RawClusterFlags>;

function count(text: string, name: string, min: number, max: number): number {
  if (!/^\d+$/.test(text.trim())) throw new ConfigError(`${name}: "${text}" is not an integer`);
  const n = Number(text.trim());
  if (n < min || n > max) throw new ConfigError(`${name}: ${n} is out of range ${min}-${max}`);
  return n;
}

/**
 * Validates the cluster flags. `gossipIntervalMs` and `syncIntervalMs` come from
 * the foundation's --gossip-interval and --full-sync-interval flags.
 */
export function buildClusterConfig(
  raw: RawClusterFlags,
  gossipIntervalMs: number,
  syncIntervalMs: number,
): ClusterConfig {
  const d = CLUSTER_FLAG_DEFAULTS;
  const dur = (v: string | undefined, def: string, name: string, min: number): number => {
    const ms = parseDuration(v ?? def, name);
    if (ms < min) throw new ConfigError(`${name}: must be at least ${min}ms`);
    return ms;
  };
  const probeIntervalMs = dur(raw.probeInterval, d.probeInterval, '--probe-interval', 50);
  const probeTimeoutMs = dur(raw.probeTimeout, d.probeTimeout, '--probe-timeout', 10);
  // The indirect phase gets twice the direct timeout, within the probe interval.
  const indirectTimeoutMs = Math.min(2 * probeTimeoutMs, probeIntervalMs - probeTimeoutMs);
  if (indirectTimeoutMs < probeTimeoutMs / 2) {
    throw new ConfigError('--probe-timeout: must be well under --probe-interval');
  }
  const suspicionMinMs = dur(raw.suspicionMin, d.suspicionMin, '--suspicion-min', 100);
  const suspicionMaxMs = dur(raw.suspicionMax, d.suspicionMax, '--suspicion-max', 100);
  if (suspicionMaxMs < suspicionMinMs) {
    throw new ConfigError('--suspicion-max: must be at least --suspicion-min');
  }
  const digestBuckets = count(raw.digestBuckets ?? d.digestBuckets, '--digest-buckets', 1, 4096);
  if (!validBucketCount(digestBuckets)) {
    throw new ConfigError('--digest-buckets: must be a power of two (1-4096)');
  }
  const probeTransport = raw.probeTransport ?? d.probeTransport;
  if (probeTransport !== 'udp' && probeTransport !== 'grpc') {
    throw new ConfigError(`--probe-transport: "${probeTransport}" is not udp or grpc`);
  }
  return {
    probeTransport,
    joinSyncTimeoutMs: dur(raw.joinSyncTimeout, d.joinSyncTimeout, '--join-sync-timeout', 0),
    membership: {
      ...DEFAULT_MEMBERSHIP_OPTIONS,
      probeIntervalMs,
      probeTimeoutMs,
      indirectTimeoutMs,
      indirectProbes: count(raw.indirectProbes ?? d.indirectProbes, '--indirect-probes', 0, 16),
      suspicionMinMs,
      suspicionMaxMs,
      reapMs: dur(raw.reapInterval, d.reapInterval, '--reap-interval', 1000),
      stallMs: Math.max(DEFAULT_MEMBERSHIP_OPTIONS.stallMs, probeTimeoutMs * 2),
    },
    gossip: {
      ...DEFAULT_GOSSIP_OPTIONS,
      gossipIntervalMs,
      syncIntervalMs,
      fanout: count(raw.fanout ?? d.fanout, '--fanout', 1, 64),
      digestBuckets,
      // The agent merges big anti-entropy batches in chunks between probes (driver).
      deferMergeRecords: 256,
    },
    driver: {
      rpcTimeoutMs: Math.max(2000, probeIntervalMs),
      maxPeers: 1024,
      resolveIntervalMs: dur(
        raw.bootstrapResolveInterval,
        d.bootstrapResolveInterval,
        '--bootstrap-resolve-interval',
        1000,
      ),
      leaveWaitMs: dur(raw.leaveWait, d.leaveWait, '--leave-wait', 0),
      limits: { maxMembers: 100_000, maxRecords: 5000, maxBuckets: 4096 },
    },
  };
}

/** Adds the cluster flags to `btagent run`. */
export function addClusterFlags(cmd: Command): Command {
  const d = CLUSTER_FLAG_DEFAULTS;
  const f = (flags: string, desc: string, env: string, def: string): Option =>
    new Option(flags, desc).env(env).default(def);
  return cmd
    .addOption(f('--fanout <n>', 'members each gossip push goes to', 'BTAGENT_FANOUT', d.fanout))
    .addOption(
      f(
        '--probe-interval <duration>',
        'SWIM: probe one member this often',
        'BTAGENT_PROBE_INTERVAL',
        d.probeInterval,
      ),
    )
    .addOption(
      f(
        '--probe-timeout <duration>',
        'SWIM: direct ack deadline before indirect probes',
        'BTAGENT_PROBE_TIMEOUT',
        d.probeTimeout,
      ),
    )
    .addOption(
      f(
        '--indirect-probes <n>',
        'SWIM: members asked to probe indirectly',
        'BTAGENT_INDIRECT_PROBES',
        d.indirectProbes,
      ),
    )
    .addOption(
      f(
        '--suspicion-min <duration>',
        'Lifeguard: suspicion timeout once confirmed by others',
        'BTAGENT_SUSPICION_MIN',
        d.suspicionMin,
      ),
    )
    .addOption(
      f(
        '--suspicion-max <duration>',
        'Lifeguard: suspicion timeout with no confirmation',
        'BTAGENT_SUSPICION_MAX',
        d.suspicionMax,
      ),
    )
    .addOption(
      f(
        '--reap-interval <duration>',
        'dead/left members are forgotten after this',
        'BTAGENT_REAP_INTERVAL',
        d.reapInterval,
      ),
    )
    .addOption(
      f(
        '--digest-buckets <n>',
        'anti-entropy digest buckets (power of two)',
        'BTAGENT_DIGEST_BUCKETS',
        d.digestBuckets,
      ),
    )
    .addOption(
      f(
        '--bootstrap-resolve-interval <duration>',
        'dns:NAME:PORT bootstrap entries are re-resolved this often',
        'BTAGENT_BOOTSTRAP_RESOLVE_INTERVAL',
        d.bootstrapResolveInterval,
      ),
    )
    .addOption(
      f(
        '--leave-wait <duration>',
        'graceful leave: time to spread `left`',
        'BTAGENT_LEAVE_WAIT',
        d.leaveWait,
      ),
    )
    .addOption(
      f(
        '--probe-transport <udp|grpc>',
        'SWIM probes as UDP datagrams on the same port number, or over gRPC',
        'BTAGENT_PROBE_TRANSPORT',
        d.probeTransport,
      ),
    )
    .addOption(
      f(
        '--join-sync-timeout <duration>',
        'a joining agent is NOT_SERVING until its first full sync, or this long at most',
        'BTAGENT_JOIN_SYNC_TIMEOUT',
        d.joinSyncTimeout,
      ),
    );
}
