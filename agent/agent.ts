import type { Logger } from 'pino';
import type { AgentConfig } from './config.js';
import { acquireDataDirLock, type DataDirLock } from './fs/index.js';
import { GossipDriver } from './gossip/driver.js';
import { GossipNode } from './gossip/node.js';
import { LegacyGossiper } from './legacy/gossiper.js';
import { LegacyHandler } from './legacy/handler.js';
import { DEFAULT_LEGACY_RESOLVE_MS, LegacyWriters } from './legacy/writers.js';
import { METRICS_PATH, metricsRoute } from './metrics/http-route.js';
import { createAgentMetrics, type AgentMetrics } from './metrics/metrics.js';
import { processErrors, reportGrpcInternal } from './process-errors.js';
import { Replica } from './replica.js';
import { AgentSecurity, logClusterKey } from './security/agent-security.js';
import { AbuseMonitor, type AbuseReason } from './security/abuse.js';
import { serverCredentials } from './security/tls-credentials.js';
import { Store } from './store/store.js';
import { trackerRoutes } from './tracker/http-routes.js';
import { Tracker } from './tracker/tracker.js';
import { adminInterceptor } from './transport/admin-interceptor.js';
import { createClusterService } from './transport/cluster-service.js';
import { createControlService } from './transport/control-service.js';
import { createGrpcServer, type AgentGrpcServer } from './transport/grpc-server.js';
import { HttpHandler } from './transport/http-handler.js';
import { createOverlayService } from './transport/overlay-service.js';
import { ConnectionTable } from './transport/connection-limit.js';
import { PortListener, sourceKey } from './transport/port-listener.js';
import { createTorrentsService } from './transport/torrents-service.js';
import { TorrentManager } from './torrents/manager.js';
import { TorrentStateDir } from './torrents/persist.js';
import { VERSION } from './version.js';

/** Longest a connection may take to send its first bytes, ms. */
const SNIFF_TIMEOUT_MS = 5000;
/** Simultaneous connections on the agent's port. */
const MAX_CONNECTIONS = 10_000;

/**
 * One btoverlay agent: the Store behind a Replica, served on one port (gRPC,
 * HTTP/1.1, and later the legacy protocol), replicated to other agents.
 */
export class Agent {
  readonly replica: Replica;
  /** Identity, record signatures, cluster key, address checks, rate limits (agent/security/). */
  readonly security: AgentSecurity;
  /** This agent's Prometheus registry and instruments (GET /metrics). */
  readonly metrics: AgentMetrics;
  private readonly grpc: AgentGrpcServer;
  private readonly http: HttpHandler;
  private readonly listener: PortListener;
  /** Strikes per source; expelled sources are refused at accept until their penalty ends. */
  private readonly abuse = new AbuseMonitor();
  /** Membership and gossip (pure), and their binding to timers and gRPC. */
  private gossip: GossipNode | undefined;
  private driver: GossipDriver | undefined;
  /** The torrents this agent downloads and seeds (set once started). */
  torrents: TorrentManager | undefined;
  /** The legacy JSON protocol's inbound handler (undefined with --legacy-mode off). */
  readonly legacy: LegacyHandler | undefined;
  /** The HTTP tracker endpoint, when enabled; swept with the Store. */
  private readonly tracker: Tracker | undefined;
  private readonly legacyGossip: LegacyGossiper | undefined;
  /** Who may write over the legacy protocol (--legacy-peers, --legacy-sources). */
  private readonly legacyWriters: LegacyWriters;
  private readonly timers: NodeJS.Timeout[] = [];
  private stopping: Promise<void> | undefined;
  /** The data dir's LOCK, held from before the first write there until the stop ends. */
  private dataDirLock: DataDirLock | undefined;
  /** "host:port" other agents dial: --advertise, with the bound port when it was 0. */
  advertise: string;

  private constructor(
    readonly config: AgentConfig,
    readonly log: Logger,
  ) {
    const startedAt = Date.now();
    this.advertise = config.advertise;
    this.security = new AgentSecurity(
      {
        ...config.security,
        clusterRate: {
          ...config.limits.clusterRate,
          maxSources: config.security.legacyRate.maxSources,
        },
      },
      config.nodeId,
      config.store,
      log,
    );
    this.replica = new Replica(
      new Store(config.store),
      config.nodeId,
      Date.now,
      this.security.replica,
    );
    this.metrics = createAgentMetrics({ version: VERSION });
    this.grpc = createGrpcServer(
      {
        overlay: createOverlayService(
          this.replica,
          { maxLookupLimit: config.maxLookupLimit, maxGossipBatch: config.maxGossipBatch },
          undefined,
          this.security.overlayGuards(
            (key, addr) => this.replica.store.hostProviders(key, addr, this.replica.now()),
            config.limits.maxProvidersPerHost,
          ),
        ),
        control: createControlService(
          this.replica,
          {
            version: VERSION,
            startedAt,
            listenAddr: () => {
              const a = this.listener.address();
              return `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
            },
            advertiseAddr: () => this.advertise,
            membership: () => this.gossip?.membership,
            publicKey: () => this.security.identity.publicKey,
            securityRefusals: () => this.securityRefusals(),
            clusterKeyId: () => this.security.clusterKeys?.primary.id ?? '',
          },
          this.security.statusGuard(),
        ),
        cluster: createClusterService(() => {
          const d = this.driver;
          if (d === undefined) return undefined;
          return {
            handle: (messages) => {
              this.metrics.cluster('in', messages);
              const replies = d.handle(messages);
              this.metrics.cluster('out', replies);
              return replies;
            },
          };
        }, this.security.clusterService()),
        torrents: createTorrentsService(() => this.torrents, { maxWatchStreams: 64 }),
      },
      {
        maxMessageBytes: config.maxMessageBytes,
        // Metrics first (outermost), so the admin gate's refusals are timed and counted too.
        interceptors: [
          this.metrics.grpcInterceptor,
          adminInterceptor(this.security.adminPolicy(), this.security.onAdminRefused),
        ],
        tls:
          config.security.tls === undefined
            ? undefined
            : serverCredentials(config.security.tls, config.security.admin.tlsCaPem),
        onInternalError: (method, err) => reportGrpcInternal(log, method, err),
        inbound: {
          hooks: {
            isTrusted: (source) => this.security.isTrustedSource(source),
            onRefuse: (reason, source) => {
              this.security.counters.countInbound(reason);
              if (this.log.isLevelEnabled('debug'))
                this.log.debug({ reason, remote: source }, 'grpc stream refused');
            },
            strike: (source, kind) =>
              this.strike(source, kind === 'reset' ? 'rapid_reset' : 'repeated_refusals'),
          },
        },
      },
    );
    this.http = new HttpHandler({
      requestTimeoutMs: config.http.httpRequestTimeoutMs,
      maxHeaderBytes: 16 * 1024,
      maxConnections: config.http.httpMaxConnections,
      onRequest: (route, status, seconds) => this.metrics.httpRequest(route, status, seconds),
      trusted: (ip) => this.security.isTrustedSource(ip),
      onBusy: () => this.metrics.connectionRejected('http_full'),
    });
    // Open to anyone, so rate-limited per source (--status-rate-limit); 429 past it.
    // Outsiders share one render a second; trusted sources get a fresh one each time.
    const metrics = metricsRoute(this.metrics, {
      cacheMs: 1000,
      fresh: (req) => this.security.isTrustedSource(req.socket.remoteAddress),
    });
    this.http.route(METRICS_PATH, (req, res) => {
      if (this.security.allowStatus(req.socket.remoteAddress)) {
        metrics(req, res);
        return;
      }
      res.writeHead(429, { 'retry-after': '1', 'content-type': 'text/plain; charset=utf-8' });
      res.end('too many requests from this address (--status-rate-limit)\n');
    });
    if (config.http.trackerEnabled) {
      const security = this.security;
      const tracker = (this.tracker = new Tracker(this.replica, config.http.tracker, {
        allow: (ip) => security.allowTracker(ip),
        refuseAddr: (ip, addr) => {
          const v = security.checkAnnounce('tracker', ip, addr);
          return v.ok ? undefined : v.message;
        },
        refuseHostShare: (ip, key, addr) =>
          security.checkHostShare(
            'tracker',
            ip,
            () => this.replica.store.hostProviders(key, addr, this.replica.now()),
            config.limits.maxProvidersPerHost,
          ),
      }));
      for (const [path, route] of Object.entries(trackerRoutes(tracker, this.metrics.tracker))) {
        this.http.route(path, route);
      }
    }
    this.legacyWriters = new LegacyWriters({
      peers: config.legacy.peers,
      sources: config.security.legacySources,
      resolveIntervalMs: DEFAULT_LEGACY_RESOLVE_MS,
    });
    if (config.legacy.mode !== 'off') {
      this.legacy = new LegacyHandler(
        this.replica,
        {
          ...config.legacy,
          mode: config.legacy.mode,
          checkAnnounce: (ip, addr) => this.security.checkAnnounce('legacy', ip, addr).ok,
          allowWrite: (ip, type) => {
            if (this.legacyWriters.allows(ip)) return true;
            this.security.counters.legacySource[type]++;
            return false;
          },
        },
        log,
      );
      this.legacyGossip = new LegacyGossiper(
        this.replica,
        {
          peers: config.legacy.peers,
          intervalMs: config.legacy.gossipIntervalMs,
          dialTimeoutMs: 1200, // legacy-wire contract: Go nodes push with a 1.2 s dial timeout
          ioTimeoutMs: config.legacy.readTimeoutMs,
          maxProviders: config.legacy.maxProviders,
          maxLineBytes: config.legacy.maxLineBytes,
          concurrency: 4,
        },
        log,
      );
    }
    this.listener = new PortListener({
      host: config.listenHost,
      port: config.listenPort,
      sniffTimeoutMs: SNIFF_TIMEOUT_MS,
      maxConnections: MAX_CONNECTIONS,
      // One table for gRPC, legacy and HTTP alike; --trusted-sources (loopback) exempt.
      perSource: new ConnectionTable({
        maxPerSource: config.limits.maxConnectionsPerSource,
        exempt: (ip) => this.security.isTrustedSource(ip),
      }),
      handlers: {
        grpc: (socket) => {
          this.metrics.connection('grpc');
          // With TLS configured, gRPC is TLS only: a plaintext client would bypass mTLS.
          if (this.grpc.tlsInjector !== undefined) {
            this.security.counters.plaintextRefused++;
            socket.destroy();
            return;
          }
          this.grpc.injector.injectConnection(socket);
        },
        tls:
          this.grpc.tlsInjector === undefined
            ? undefined
            : (socket) => {
                this.metrics.connection('grpc');
                this.grpc.tlsInjector!.injectConnection(socket);
              },
        http: (socket) => {
          this.metrics.connection('http');
          this.http.handle(socket);
        },
        legacy:
          this.legacy === undefined
            ? undefined
            : (socket) => {
                this.metrics.connection('legacy');
                // Per-source token bucket before any parsing (docs/security.md).
                if (!this.security.allowLegacy(socket.remoteAddress)) {
                  socket.destroy();
                  return;
                }
                this.legacy!.handle(socket);
              },
      },
      penalised: (source) => this.abuse.isPenalised(source, Date.now()),
      trusted: (source) => this.security.isTrustedSource(source),
      onReject: (reason) => {
        if (reason === 'penalised') this.security.counters.abuse.penalised++;
        this.metrics.connectionRejected(reason);
        this.log.debug({ reason }, 'connection rejected');
      },
    });
    // A request a per-source rate limit refuses is a strike against its source.
    this.security.onRateLimited = (ip) => this.strike(sourceKey(ip), 'rate_limited');
    // Read at scrape time: nothing on the hot paths.
    this.metrics.setSources({
      storeStats: () => this.replica.store.stats(this.replica.now()),
      storeCounters: () => this.replica.store.counters,
      mergeOutcomes: () => this.replica.outcomes,
      members: () => this.gossip?.membership.all(),
      gossip: () => this.gossip?.counters,
      legacy: () => this.legacy?.counters,
      legacyGossip: () => this.legacyGossip?.counters,
      torrents: () => this.torrents?.list(),
      securityRefusals: () => this.securityRefusals(),
      adminRefusals: () => this.security.counters.admin,
      processErrors: () => processErrors,
    });
  }

  /** Creates the agent, binds its port and starts serving. */
  static async start(config: AgentConfig, log: Logger): Promise<Agent> {
    // Before anything is written in the data dir (identity, cluster key, torrents).
    const lock = acquireDataDirLock(config.torrents.dataDir, {
      onLost: (holder) =>
        log.error(
          { data_dir: config.torrents.dataDir, holder },
          'the data dir LOCK was taken by another agent',
        ),
    });
    try {
      return await Agent.startLocked(config, log, lock);
    } catch (err) {
      lock.release();
      throw err;
    }
  }

  private static async startLocked(
    config: AgentConfig,
    log: Logger,
    lock: DataDirLock,
  ): Promise<Agent> {
    // Under the lock no live writer owns a temp file: what is there, a crash left.
    const stale = new TorrentStateDir(config.torrents.dataDir).removeStaleTemps();
    if (stale.length > 0) log.info({ files: stale }, 'removed temp files a crash left');
    const agent = new Agent(config, log);
    agent.dataDirLock = lock;
    const addr = await agent.listener.listen();
    if (agent.advertise.endsWith(':0'))
      agent.advertise = `${agent.advertise.slice(0, -2)}:${addr.port}`;
    // Sweep often enough that memory tracks the TTL, rarely enough to stay cheap.
    const sweepMs = Math.max(250, Math.min(10_000, Math.floor(config.store.ttlMs / 4)));
    agent.timers.push(
      setInterval(() => {
        agent.replica.sweep();
        agent.tracker?.sweep();
      }, sweepMs),
    );
    // Gossip starts once the advertise address (with the bound port) is known.
    agent.gossip = new GossipNode(
      agent.replica,
      agent.advertise,
      Date.now(),
      config.cluster.gossip,
      config.cluster.membership,
    );
    agent.driver = new GossipDriver(
      agent.gossip,
      config.bootstrap,
      {
        ...config.cluster.driver,
        maxMessageBytes: config.maxMessageBytes,
        observe: (direction, messages) => agent.metrics.cluster(direction, messages),
        peerSecurity: agent.security.peerSecurity(),
        onDroppedUpdate: (reason) => agent.security.counters.memberUpdate[reason]++,
        datagramBind:
          config.cluster.probeTransport === 'udp'
            ? `${config.listenHost.includes(':') ? `[${config.listenHost}]` : config.listenHost}:${addr.port}`
            : undefined,
      },
      log,
    );
    await agent.driver.start();
    // Not awaited: a slow DNS answer for a peer name must not hold up the start.
    if (agent.legacy !== undefined) void agent.legacyWriters.start();
    agent.legacyGossip?.start();
    // Torrents resume once gossip runs, so their provider records spread at once.
    agent.torrents = await TorrentManager.start({
      replica: agent.replica,
      config: config.torrents,
      bindHost: config.listenHost,
      ttlMs: config.store.ttlMs,
      log,
    });
    agent.serveWhenJoined(config.cluster.joinSyncTimeoutMs);
    log.info(
      {
        addr: `${addr.host}:${addr.port}`,
        advertise: agent.advertise,
        bootstrap: config.bootstrap,
        ttl_ms: config.store.ttlMs,
        version: VERSION,
        public_key: agent.security.publicKeyHex,
        identity: agent.security.identity.path ?? 'ephemeral',
        cluster_key: agent.security.clusterKeys?.primary.id ?? null,
        tls: config.security.tls === undefined ? 'off' : config.security.tls.ca ? 'mtls' : 'tls',
        admin: {
          token: config.security.admin.token !== undefined,
          tls_ca: config.security.admin.tlsCa !== undefined,
        },
      },
      'listening',
    );
    logClusterKey(agent.security, log);
    if (agent.security.identity.looseMode !== undefined) {
      log.warn(
        { path: agent.security.identity.path, mode: agent.security.identity.looseMode.toString(8) },
        'identity key file is readable by others; chmod 600 it',
      );
    }
    return agent;
  }

  /**
   * Health turns SERVING once the agent holds what the cluster holds: at once for a
   * lone agent, else after its first full sync or `timeoutMs` (issue 13), polled.
   */
  private serveWhenJoined(timeoutMs: number): void {
    const started = Date.now();
    const check = (): void => {
      if (this.stopping !== undefined) return;
      const synced = this.gossip?.joinSynced ?? true;
      if (synced || Date.now() - started >= timeoutMs) {
        if (!synced) this.log.warn({ timeout_ms: timeoutMs }, 'serving before the join sync ended');
        else this.log.info({ waited_ms: Date.now() - started }, 'serving');
        this.grpc.setServing();
        return;
      }
      const t = setTimeout(check, 50);
      t.unref();
    };
    check();
  }

  /**
   * Tombstones the live records this agent accepted (origin = its node id), within
   * `budgetMs` of work: each tombstone is signed (in batches, on the batch signer's worker)
   * and queued for gossip, and tens of thousands of tracker clients must not hold up the
   * shutdown. It waits for each chunk; what is left when the budget runs out expires by
   * the TTL.
   */
  private async withdrawOwnRecords(budgetMs: number): Promise<void> {
    const CHUNK = 500; // well under the batch signer's backlog bound
    const started = Date.now();
    const now = this.replica.now();
    const store = this.replica.store;
    let done = 0;
    let left = 0;
    let chunk: Promise<unknown>[] = [];
    const flush = async (): Promise<void> => {
      await Promise.all(chunk);
      chunk = [];
    };
    for (const key of [...store.keys()]) {
      for (const r of store.records(key, now)) {
        if (r.origin !== this.replica.nodeId || r.removed) continue;
        if (Date.now() - started > budgetMs) {
          left++;
          continue;
        }
        const p = { addr: r.addr, peerId: r.peerId, left: r.left };
        // Signed on the batch signer's worker; if it refuses, here.
        chunk.push(
          this.replica.announceAsync(key, p, true).catch(() => {
            try {
              this.replica.announce(key, p, true);
            } catch {
              // Refused by the Store: it expires by TTL like the records past the budget.
            }
          }),
        );
        done++;
        if (chunk.length >= CHUNK) await flush();
      }
    }
    await flush();
    if (left > 0) {
      this.log.warn(
        { withdrawn: done, left },
        'shutdown: not every own record withdrawn; the rest expire by TTL',
      );
    }
  }

  /**
   * One strike against `source` (security/abuse.ts); the one that empties its
   * bucket expels it: every connection it holds is closed, new ones are refused at
   * accept for the penalty. Trusted sources take no strikes.
   */
  private strike(source: string, reason: AbuseReason): void {
    if (source === '' || this.security.isTrustedSource(source)) return;
    if (!this.abuse.strike(source, Date.now())) return;
    this.security.counters.abuse[reason]++;
    const closed = this.listener.destroySource(source);
    this.log.warn(
      { remote: source, reason, closed, penalty_ms: this.abuse.options.penaltyMs },
      'source expelled: its connections closed, new ones refused for a while',
    );
  }

  /** Security refusals, with the membership's incarnation-cap drops (swim.ts) merged in. */
  private securityRefusals(): Record<string, number> {
    const r = this.security.refusals();
    const capped = this.gossip?.membership.incarnationRefused ?? 0;
    if (capped > 0) r['member_update.incarnation'] = (r['member_update.incarnation'] ?? 0) + capped;
    return r;
  }

  /** The bound address. */
  address(): { host: string; port: number } {
    return this.listener.address();
  }

  /**
   * Graceful stop: health goes NOT_SERVING, no new connections are accepted,
   * in-flight calls finish (up to the configured grace), then everything closes.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info('shutting down');
      // Torrents first: their provider records are tombstoned while gossip still runs.
      await this.torrents?.stop();
      // Graceful leave first, while the port still answers: tombstone what this
      // agent announced, spread `left` with it, then stop gossiping.
      await this.withdrawOwnRecords(this.config.shutdownGraceMs / 2);
      await this.driver?.leave();
      this.driver?.stop();
      this.grpc.setNotServing();
      for (const t of this.timers) clearInterval(t);
      this.legacyGossip?.stop();
      this.legacyWriters.stop();
      const closed = this.listener.stopAccepting();
      this.http.close();
      await this.grpc.shutdown(this.config.shutdownGraceMs);
      this.listener.destroyAll();
      this.legacy?.destroyAll();
      this.log.info({ security: this.securityRefusals() }, 'security counters');
      await closed;
      this.dataDirLock?.release();
      this.log.info('stopped');
    })();
    return this.stopping;
  }
}
