import type { ServerUnaryCall } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { ReplicaSecurity } from '../replica.js';
import { AdminPolicy, type AdminRefusal } from './admin.js';
import { checkAnnounceAddr, type AnnounceVerdict } from './announce-addr.js';
import {
  ClusterAuthenticator,
  DEFAULT_CLUSTER_AUTH_OPTIONS,
  type ClusterAuthRefusal,
} from './cluster-auth.js';
import { loadOrCreateClusterKey, type ClusterKeyFile } from './cluster-key-file.js';
import type { ClusterKeyring } from './cluster-key.js';
import type { SecurityConfig } from './config.js';
import { SecurityCounters } from './counters.js';
import { ResourceExhaustedError } from '../errors.js';
import { clusterRateLimitError, UnauthenticatedError, PermissionDeniedError } from './errors.js';
import { callerHasClientCert, callerIp } from './grpc-caller.js';
import { ephemeralIdentity, loadOrCreateIdentity, type AgentIdentity } from './identity.js';
import { RateLimiter } from './rate-limit.js';
import { RecordGuard } from './record-guard.js';
import { createRecordSigner } from './record-signature.js';

/** Where an announce arrived. */
export type AnnounceEntry = 'grpc' | 'legacy' | 'tracker';

/** Origin pins kept (as many as interned origins in the Store). */
const MAX_ORIGIN_PINS = 65_536;

/**
 * One agent's security mechanisms, assembled from its SecurityConfig: the
 * Ed25519 identity and record signing/verification, the cluster key, the
 * announce address check, the per-source rate limits, and the counters of
 * everything refused. The rest of the agent calls in through the small
 * adapters below (docs/security.md has the threat model).
 */
export class AgentSecurity {
  readonly counters = new SecurityCounters();
  readonly identity: AgentIdentity;
  /** Signs what this agent originates, verifies what others send (for the Replica). */
  readonly replica: ReplicaSecurity;
  /** The cluster keys in use: --cluster-key, or the generated key file; undefined with --no-cluster-key. */
  readonly clusterKeys: ClusterKeyring | undefined;
  /** The generated key file in the data dir, when no --cluster-key was given. */
  readonly clusterKeyFile: ClusterKeyFile | undefined;
  /** Undefined with --no-cluster-key. */
  readonly auth: ClusterAuthenticator | undefined;
  /** Per-source limit of inbound legacy connections. */
  readonly legacyLimiter: RateLimiter;
  /** Per-source limit of tracker requests (agent/tracker calls `allowTracker`). */
  readonly trackerLimiter: RateLimiter;
  /** Per-source limit of Gossip/Exchange calls and cluster datagrams; undefined = none. */
  readonly clusterLimiter: RateLimiter | undefined;
  /** Per-source limit of gRPC Announce calls. */
  readonly announceLimiter: RateLimiter;
  /** Per-source limit of /metrics and Control reads. */
  readonly statusLimiter: RateLimiter;
  /**
   * Told of every request a per-source rate limit refused (legacy, tracker,
   * announce, status): the agent counts it as a strike (security/abuse.ts).
   */
  onRateLimited: ((ip: string) => void) | undefined;

  constructor(
    readonly config: SecurityConfig,
    nodeId: string,
    store: { readonly ttlMs: number; readonly maxSkewMs: number },
    private readonly log: Logger,
    private readonly clock: () => number = Date.now,
  ) {
    this.identity =
      config.identityDir === undefined
        ? ephemeralIdentity()
        : loadOrCreateIdentity(config.identityDir);
    // Secure by default: without --cluster-key the data dir's cluster.key (created
    // on first start) seals agent-to-agent traffic; only --no-cluster-key opens it.
    this.clusterKeyFile =
      config.clusterKeyMode === 'generate' && config.identityDir !== undefined
        ? loadOrCreateClusterKey(config.identityDir)
        : undefined;
    this.clusterKeys = config.clusterKeys ?? this.clusterKeyFile?.keys;
    const signer = createRecordSigner(this.identity.privateKey, this.identity.publicKey);
    const keyed = this.clusterKeys !== undefined;
    this.replica = {
      signer,
      guard: new RecordGuard({
        // Without a cluster key or trusted keys nothing says who may write, so
        // unsigned records stay accepted (compatibility); signed ones are verified always.
        requireSigned: keyed || config.trustedKeys !== undefined,
        trusted: config.trustedKeys,
        selfKey: signer.publicKey,
        selfOrigin: nodeId,
        pinTtlMs: store.ttlMs,
        maxSkewMs: store.maxSkewMs,
        maxPins: MAX_ORIGIN_PINS,
      }),
    };
    this.auth =
      this.clusterKeys === undefined
        ? undefined
        : new ClusterAuthenticator(this.clusterKeys, {
            ...DEFAULT_CLUSTER_AUTH_OPTIONS,
            windowMs: Math.max(DEFAULT_CLUSTER_AUTH_OPTIONS.windowMs, store.maxSkewMs),
          });
    for (const w of config.admin.warnings) log.warn(w);
    this.legacyLimiter = new RateLimiter(config.legacyRate);
    this.trackerLimiter = new RateLimiter(config.trackerRate);
    this.announceLimiter = new RateLimiter(config.announceRate);
    this.statusLimiter = new RateLimiter(config.statusRate);
    this.clusterLimiter =
      config.clusterRate === undefined ? undefined : new RateLimiter(config.clusterRate);
  }

  /** The raw public key, hex (what trusted-keys files list). */
  get publicKeyHex(): string {
    return this.identity.publicKey.toString('hex');
  }

  /** Whether a source is exempt from address checks and rate limits (--trusted-sources). */
  isTrustedSource(ip: string | undefined): boolean {
    return this.config.trustedSources.has(ip);
  }

  /** Whether a new legacy connection from `ip` may proceed (counted when not). */
  allowLegacy(ip: string | undefined): boolean {
    return this.admit(this.legacyLimiter, 'legacy', ip);
  }

  /**
   * Whether a tracker request from `ip` may proceed (counted when not). The
   * tracker answers a refusal with a BEP 3 `failure reason`.
   */
  allowTracker(ip: string | undefined): boolean {
    return this.admit(this.trackerLimiter, 'tracker', ip);
  }

  /**
   * One request from `ip` through a per-source limit: trusted sources pass; a
   * refusal is counted as `rate_limited.<kind>` and told to `onRateLimited`.
   */
  private admit(
    limiter: RateLimiter,
    kind: 'legacy' | 'tracker' | 'announce' | 'status',
    ip: string | undefined,
  ): boolean {
    if (this.isTrustedSource(ip)) return true;
    if (limiter.take(ip ?? '', this.clock())) return true;
    this.counters.rateLimited[kind]++;
    this.onRateLimited?.(ip ?? '');
    return false;
  }

  /** Whether a gRPC Announce from `ip` may proceed (counted when not). */
  allowAnnounce(ip: string | undefined): boolean {
    return this.admit(this.announceLimiter, 'announce', ip);
  }

  /**
   * Whether a read of /metrics or Control.Status/Members/Digest from `ip` may
   * proceed (counted when not): open to anyone, so bounded per source.
   */
  allowStatus(ip: string | undefined): boolean {
    return this.admit(this.statusLimiter, 'status', ip);
  }

  /**
   * Whether a Gossip/Exchange call or cluster datagram from `ip` may proceed
   * (counted by kind when not). One bucket per source for all three: what a
   * member sends is their sum. Trusted sources are exempt, as for the others.
   */
  allowCluster(kind: 'gossip' | 'exchange' | 'datagram', ip: string | undefined): boolean {
    const limiter = this.clusterLimiter;
    if (limiter === undefined || this.isTrustedSource(ip)) return true;
    if (limiter.take(ip ?? '', this.clock())) return true;
    this.counters.rateLimited[kind]++;
    return false;
  }

  /**
   * The announce address check for any entry point (counted when refused):
   * `addr`'s host must be `ip` unless the caller is a trusted source, an mTLS
   * client, or --allow-foreign-addr is set.
   */
  checkAnnounce(
    entry: AnnounceEntry,
    ip: string | undefined,
    addr: string,
    tlsClient = false,
  ): AnnounceVerdict {
    const v = checkAnnounceAddr(ip, addr, {
      trustedSource: this.isTrustedSource(ip),
      tlsClient,
      allowForeign: this.config.allowForeignAddr,
    });
    if (!v.ok) {
      this.counters.foreignAddr[entry]++;
      if (this.log.isLevelEnabled('debug')) {
        this.log.debug({ entry, remote: ip, addr }, 'announce refused: foreign addr');
      }
    }
    return v;
  }

  /**
   * The ports-per-host check for untrusted announces (counted when refused):
   * `held(key, addr)` says how many other live ports `addr`'s host provides for
   * `key`; at `max` a new one is refused. Undefined when allowed, else why not.
   */
  checkHostShare(
    entry: 'grpc' | 'tracker',
    ip: string | undefined,
    count: () => number,
    max: number,
  ): string | undefined {
    if (this.isTrustedSource(ip)) return undefined;
    const n = count();
    if (n < max) return undefined;
    this.counters.hostLimit[entry]++;
    return `this host already provides ${n} ports of this info hash (--max-providers-per-host ${max})`;
  }

  /**
   * Guards of the Overlay service: announce rate, addresses and ports per host
   * (`hostProviders`: the Store's count), and no Overlay.Gossip when keyed. The
   * shapes returned here and below are declared by the transport code that uses
   * them (OverlayGuards, ClusterServiceAuth, ClusterPeerSecurity), which checks
   * them where the agent hands them over: security imports nothing of transport.
   */
  overlayGuards(
    hostProviders?: (key: string, addr: string) => number,
    maxProvidersPerHost = Infinity,
  ) {
    return {
      announce: (
        addr: string,
        call: ServerUnaryCall<unknown, unknown>,
        key: string,
        removed: boolean,
      ) => {
        if (!this.allowAnnounce(callerIp(call))) {
          throw new ResourceExhaustedError(
            'announce_rate_limit',
            'too many Announce calls from this address (--announce-rate-limit)',
          );
        }
        const v = this.checkAnnounce('grpc', callerIp(call), addr, callerHasClientCert(call));
        if (!v.ok) throw new PermissionDeniedError(v.reason, v.message);
        if (removed || hostProviders === undefined) return;
        const refusal = this.checkHostShare(
          'grpc',
          callerIp(call),
          () => hostProviders(key, addr),
          maxProvidersPerHost,
        );
        if (refusal !== undefined)
          throw new ResourceExhaustedError('max_providers_per_host', refusal);
      },
      gossip: (call: ServerUnaryCall<unknown, unknown>) => {
        if (!this.allowCluster('gossip', callerIp(call))) throw clusterRateLimitError();
        if (this.auth === undefined) return;
        this.counters.overlayGossipRefused++;
        throw new UnauthenticatedError(
          'overlay_gossip',
          'this cluster is keyed: agents replicate through Cluster.Exchange only',
        );
      },
    };
  }

  /**
   * The check every Control call passes first: Status, Members and Digest are open
   * to anyone, so they are rate-limited per source (--status-rate-limit).
   */
  statusGuard(): (call: ServerUnaryCall<unknown, unknown>) => void {
    return (call) => {
      if (this.allowStatus(callerIp(call))) return;
      throw new ResourceExhaustedError(
        'status_rate_limit',
        'too many Control calls from this address (--status-rate-limit)',
      );
    };
  }

  /** The Cluster service's authentication. */
  clusterService() {
    return {
      auth: this.auth,
      clock: this.clock,
      allow: (ip: string | undefined) => this.allowCluster('exchange', ip),
      onRefuse: (reason: ClusterAuthRefusal, peer: string) => {
        this.counters.clusterAuth[reason]++;
        this.log.debug({ reason, peer }, 'cluster exchange refused');
      },
    };
  }

  /** Outbound cluster calls' key and TLS. */
  peerSecurity() {
    return {
      auth: this.auth,
      tls: this.config.tls,
      clock: this.clock,
      onRefusedReply: (reason: ClusterAuthRefusal, peer: string) => {
        this.counters.clusterAuthReply[reason]++;
        this.log.debug({ reason, peer }, 'cluster reply refused');
      },
      onRefusedDatagram: (reason: ClusterAuthRefusal, peer: string) => {
        this.counters.clusterAuth[reason]++;
        this.log.debug({ reason, peer }, 'cluster datagram refused');
      },
      allowDatagram: (ip: string) => this.allowCluster('datagram', ip),
    };
  }

  /** Who may call admin methods (for the gRPC server's admin interceptor). */
  adminPolicy(): AdminPolicy {
    return new AdminPolicy(this.config.admin);
  }

  /** Counts (and at debug, logs) an admin call the interceptor refused. */
  readonly onAdminRefused = (reason: AdminRefusal, ip: string | undefined, path: string): void => {
    this.counters.admin[reason]++;
    if (this.log.isLevelEnabled('debug'))
      this.log.debug({ reason, remote: ip, method: path }, 'admin call refused');
  };

  /** Every non-zero refusal counter, "group.reason" → count. */
  refusals(): Record<string, number> {
    return this.counters.snapshot(this.replica.guard.refused);
  }
}

/**
 * Says at start how agent-to-agent traffic is authenticated: the generated key's
 * path, fingerprint (its key id) and how the next agent gets it; a WARN when
 * --no-cluster-key left it open.
 */
export function logClusterKey(security: AgentSecurity, log: Logger): void {
  const file = security.clusterKeyFile;
  const keys = security.clusterKeys;
  if (keys === undefined) {
    log.warn(
      { cluster: 'unauthenticated' },
      'cluster traffic is unauthenticated (--no-cluster-key): anyone who reaches the port can gossip records and members',
    );
    return;
  }
  if (file === undefined) return;
  log.info(
    { path: file.path, fingerprint: keys.primary.id, created: file.created },
    `cluster key ${file.created ? 'generated' : 'loaded'}: give the other agents this key (copy ${file.path} to their hosts, start them with --cluster-key FILE)`,
  );
  if (file.looseMode !== undefined) {
    log.warn(
      { path: file.path, mode: file.looseMode.toString(8) },
      'cluster key file is readable by others; chmod 600 it',
    );
  }
}
