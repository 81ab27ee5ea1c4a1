import { status as GrpcStatus, type ServerInterceptor } from '@grpc/grpc-js';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ClusterMessage } from '../../generated/btoverlay/v1/cluster.js';
import { clusterTraffic, type ClusterDirection } from './cluster-traffic.js';
import { callMetricsInterceptor } from './grpc-interceptor.js';
import { TorrentMeter, type TorrentSnapshot, type TorrentTotals } from './torrents.js';

/**
 * Prefix of every btoverlay metric. Process and Node.js runtime metrics keep
 * prom-client's standard names (process_*, nodejs_*) so stock dashboards work.
 */
export const METRIC_PREFIX = 'btoverlay_';

/** A member-state count source: anything with a `state`. */
export interface StatefulMember {
  readonly state: string;
}

/**
 * Where collect-time metrics read from. Each is called on every scrape, so the
 * hot paths of the agent pay nothing for them; a source that returns undefined
 * (a part not started, or switched off) exports nothing.
 */
export interface MetricSources {
  /** Info hashes, live providers and tombstones (Store.stats: O(records) per scrape). */
  storeStats(): { infoHashes: number; providers: number; tombstones: number };
  /** The Store's own counters: refusals, clamped last_seen, evictions. */
  storeCounters(): {
    refused: Readonly<Record<string, number>>;
    clamped: number;
    evicted: number;
  };
  /** Merges by "source outcome" (see Replica.outcomes). */
  mergeOutcomes(): ReadonlyMap<string, number>;
  /** Every member this agent knows, itself included. */
  members(): Iterable<StatefulMember> | undefined;
  /** The gossip node's counters. */
  gossip():
    | {
        syncsStarted: number;
        syncsDiffering: number;
        recordsSent: number;
        repairRecordsSent?: number;
        repairFingerprintsSent?: number;
        queueDropped?: number;
      }
    | undefined;
  /** The legacy handler's counters (undefined with --legacy-mode off). */
  legacy():
    | {
        handled: Readonly<Record<string, number>>;
        rejected: Readonly<Record<string, number>>;
        open: number;
      }
    | undefined;
  /** The legacy gossiper's counters. */
  legacyGossip(): { rounds: number; sent: number; failed: number; skippedBusy: number } | undefined;
  /** The agent's torrents (the torrent manager's `list()`). */
  torrents(): Iterable<TorrentSnapshot> | undefined;
  /**
   * Refusals of the security layer as "group.reason" → count (SecurityCounters
   * `snapshot()`: cluster auth, foreign addresses, rate limits, records, TLS).
   */
  securityRefusals(): Readonly<Record<string, number>> | undefined;
  /** Admin-method calls refused, by reason (SecurityCounters `admin`). */
  adminRefusals(): Readonly<Record<string, number>> | undefined;
  /** Unexpected errors of this process, by kind (agent/process-errors.ts). */
  processErrors(): Readonly<Record<string, number>> | undefined;
}

/** Counters the HTTP tracker endpoint (/announce, /scrape) increments. */
export interface TrackerMetrics {
  /**
   * One announce handled. `event` is BEP 3's (started, stopped, completed, or
   * "none" for a regular interval announce); `result` is "ok" or a short,
   * fixed failure reason (never request data: labels must stay bounded).
   */
  announce(event: string, result: string): void;
  /** One scrape handled (BEP 48), by result as above. */
  scrape(result: string): void;
}

/** One agent's metrics: its own registry and the hooks its parts call. */
export interface AgentMetrics {
  /** The registry /metrics renders; separate per agent (never the global default). */
  readonly registry: Registry;
  /** A grpc-js server interceptor timing every call by method and status code. */
  readonly grpcInterceptor: ServerInterceptor;
  /** Counters for the tracker endpoint. */
  readonly tracker: TrackerMetrics;
  /** Counts cluster (gossip/membership) messages and their encoded bytes by kind. */
  cluster(direction: ClusterDirection, messages: readonly ClusterMessage[]): void;
  /** A connection handed to a protocol handler by the port sniffer (grpc, http, legacy, tls). */
  connection(protocol: string): void;
  /** A connection closed by the port before any handler took it (a fixed reason, see the sniffer). */
  connectionRejected(reason: string): void;
  /** One HTTP request finished: route (a registered path, or "other"), status, seconds. */
  httpRequest(route: string, status: number, seconds: number): void;
  /** Installs the collect-time sources (the agent calls this once its parts exist). */
  setSources(sources: Partial<MetricSources>): void;
  /** The exposition text (Prometheus text format 0.0.4). */
  render(): Promise<string>;
}

/** Options of `createAgentMetrics`. */
export interface AgentMetricsOptions {
  /** Exported as btoverlay_build_info{version}. */
  readonly version: string;
  /** Process and Node.js runtime metrics (CPU, memory, event loop lag, GC); default on. */
  readonly defaultMetrics?: boolean;
}

/**
 * Seconds buckets for gRPC calls: the agent answers from memory in well under a
 * millisecond; gossip exchanges and streams take longer.
 */
const RPC_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5,
];

/**
 * A counter whose value lives elsewhere (a plain counter object the module keeps):
 * on every scrape it is reset and set from `read`. Values are monotonic because
 * the objects it reads are.
 */
function mirroredCounter(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly string[],
  read: () => Iterable<[Record<string, string>, number]> | undefined,
): void {
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      const rows = read();
      this.reset();
      if (rows === undefined) return;
      for (const [labels, value] of rows) {
        if (labelNames.length === 0) this.inc(value);
        else this.inc(labels, value);
      }
    },
  });
}

function* entries(
  label: string,
  obj: Readonly<Record<string, number>>,
): Generator<[Record<string, string>, number]> {
  for (const [k, v] of Object.entries(obj)) yield [{ [label]: k }, v];
}

/** Creates one agent's registry and instruments. See docs/metrics.md for the list. */
export function createAgentMetrics(options: AgentMetricsOptions): AgentMetrics {
  const registry = new Registry();
  const p = METRIC_PREFIX;
  let src: Partial<MetricSources> = {};

  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });

  new Gauge({
    name: `${p}build_info`,
    help: 'Always 1; the version label says which btoverlay build runs.',
    labelNames: ['version'],
    registers: [registry],
  }).set({ version: options.version }, 1);

  // --- Store (collect-time) -------------------------------------------------
  new Gauge({
    name: `${p}store_info_hashes`,
    help: 'Info hashes held in the Store (with at least one record, live or tombstone).',
    registers: [registry],
    collect() {
      const s = src.storeStats?.();
      this.set(s?.infoHashes ?? 0);
    },
  });
  new Gauge({
    name: `${p}store_records`,
    help: 'Records in the Store within their TTL, by kind (provider = live, tombstone = removal).',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      const s = src.storeStats?.();
      this.set({ kind: 'provider' }, s?.providers ?? 0);
      this.set({ kind: 'tombstone' }, s?.tombstones ?? 0);
    },
  });
  mirroredCounter(
    registry,
    `${p}store_merges_total`,
    'Records offered to the Store, by where they came from (local, cluster, legacy) and outcome (applied, unchanged, or the refusal reason).',
    ['source', 'outcome'],
    () => {
      const m = src.mergeOutcomes?.();
      if (m === undefined) return undefined;
      return [...m].map(([k, v]): [Record<string, string>, number] => {
        const [source = 'unknown', outcome = 'unknown'] = k.split(' ');
        return [{ source, outcome }, v];
      });
    },
  );
  mirroredCounter(
    registry,
    `${p}store_refused_total`,
    'Records the Store refused, by reason (expired, provider_limit, info_hash_limit, record_limit).',
    ['reason'],
    () => {
      const c = src.storeCounters?.();
      return c === undefined ? undefined : entries('reason', c.refused);
    },
  );
  mirroredCounter(
    registry,
    `${p}store_clamped_total`,
    'Records whose last_seen was further in the future than --max-skew and was clamped to now.',
    [],
    () => {
      const c = src.storeCounters?.();
      return c === undefined ? undefined : [[{}, c.clamped]];
    },
  );
  mirroredCounter(
    registry,
    `${p}store_evicted_total`,
    'Records evicted (oldest first) to stay within --max-providers-per-info-hash.',
    [],
    () => {
      const c = src.storeCounters?.();
      return c === undefined ? undefined : [[{}, c.evicted]];
    },
  );

  // --- Membership and gossip ------------------------------------------------
  new Gauge({
    name: `${p}members`,
    help: 'Cluster members this agent knows (itself included), by SWIM state.',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const counts: Record<string, number> = { alive: 0, suspect: 0, dead: 0, left: 0 };
      for (const m of src.members?.() ?? []) counts[m.state] = (counts[m.state] ?? 0) + 1;
      for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
    },
  });
  const gossipMessages = new Counter({
    name: `${p}gossip_messages_total`,
    help: 'Cluster messages (membership probes, gossip pushes, anti-entropy) by kind and direction (in = received, out = sent).',
    labelNames: ['kind', 'direction'],
    registers: [registry],
  });
  const gossipBytes = new Counter({
    name: `${p}gossip_bytes_total`,
    help: 'Protobuf-encoded bytes of cluster messages by kind and direction (gRPC and HTTP/2 framing not included).',
    labelNames: ['kind', 'direction'],
    registers: [registry],
  });
  mirroredCounter(
    registry,
    `${p}gossip_records_sent_total`,
    'Provider records carried in sent cluster messages (deltas and anti-entropy repairs).',
    [],
    () => {
      const g = src.gossip?.();
      return g === undefined ? undefined : [[{}, g.recordsSent]];
    },
  );
  mirroredCounter(
    registry,
    `${p}gossip_syncs_total`,
    'Push-pull anti-entropy exchanges: started by this agent, and answered with a difference.',
    ['result'],
    () => {
      const g = src.gossip?.();
      if (g === undefined) return undefined;
      return [
        [{ result: 'started' }, g.syncsStarted],
        [{ result: 'differing' }, g.syncsDiffering],
      ];
    },
  );

  mirroredCounter(
    registry,
    `${p}gossip_repair_sent_total`,
    'Anti-entropy repair traffic sent: records, and record fingerprints (version-2 exchanges).',
    ['kind'],
    () => {
      const g = src.gossip?.();
      if (g === undefined) return undefined;
      return [
        [{ kind: 'records' }, g.repairRecordsSent ?? 0],
        [{ kind: 'fingerprints' }, g.repairFingerprintsSent ?? 0],
      ];
    },
  );
  mirroredCounter(
    registry,
    `${p}gossip_queue_dropped_total`,
    'Records dropped from a full gossip queue before they had spread (repaired by anti-entropy).',
    [],
    () => {
      const g = src.gossip?.();
      return g === undefined ? undefined : [[{}, g.queueDropped ?? 0]];
    },
  );

  // --- The port: connections, gRPC, HTTP ------------------------------------
  const connections = new Counter({
    name: `${p}connections_total`,
    help: 'Connections accepted on the agent port, by the protocol the sniffer recognised.',
    labelNames: ['protocol'],
    registers: [registry],
  });
  const connectionRejects = new Counter({
    name: `${p}connections_rejected_total`,
    help: 'Connections the port closed before a protocol handler took them, by reason.',
    labelNames: ['reason'],
    registers: [registry],
  });
  const rpc = new Histogram({
    name: `${p}grpc_server_handling_seconds`,
    help: 'gRPC calls served, by service, method and status code, and how long they took (whole call for streams).',
    labelNames: ['service', 'method', 'code'],
    buckets: RPC_BUCKETS,
    registers: [registry],
  });
  const http = new Histogram({
    name: `${p}http_request_duration_seconds`,
    help: 'HTTP/1.1 requests on the agent port, by route (registered path or "other") and status code.',
    labelNames: ['route', 'code'],
    buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [registry],
  });

  // --- Legacy protocol (collect-time) ---------------------------------------
  new Gauge({
    name: `${p}legacy_connections`,
    help: 'Legacy JSON-over-TCP connections open now.',
    registers: [registry],
    collect() {
      this.set(src.legacy?.()?.open ?? 0);
    },
  });
  mirroredCounter(
    registry,
    `${p}legacy_messages_total`,
    'Legacy messages decoded and handled, by type (gossip, announce, lookup).',
    ['type'],
    () => {
      const l = src.legacy?.();
      return l === undefined ? undefined : entries('type', l.handled);
    },
  );
  mirroredCounter(
    registry,
    `${p}legacy_rejects_total`,
    'Legacy connections closed without a reply (or messages ignored), by reason.',
    ['reason'],
    () => {
      const l = src.legacy?.();
      return l === undefined ? undefined : entries('reason', l.rejected);
    },
  );
  mirroredCounter(
    registry,
    `${p}legacy_gossip_sends_total`,
    'Outbound gossip messages to legacy Go peers, by result (sent, failed, skipped_busy).',
    ['result'],
    () => {
      const g = src.legacyGossip?.();
      if (g === undefined) return undefined;
      return [
        [{ result: 'sent' }, g.sent],
        [{ result: 'failed' }, g.failed],
        [{ result: 'skipped_busy' }, g.skippedBusy],
      ];
    },
  );

  // --- Security (collect-time) ---------------------------------------------
  mirroredCounter(
    registry,
    `${p}security_refusals_total`,
    'Requests, messages and records the security layer refused, by reason ("group.reason", e.g. cluster_auth.bad_mac, foreign_addr.grpc, rate_limited.legacy).',
    ['reason'],
    () => {
      const r = src.securityRefusals?.();
      return r === undefined ? undefined : entries('reason', r);
    },
  );

  // Read from plain "label value → count" records kept where the events happen.
  const recordCounter = (
    name: string,
    help: string,
    label: string,
    read: () => Readonly<Record<string, number>> | undefined,
  ): void =>
    mirroredCounter(registry, `${p}${name}`, help, [label], () => {
      const r = read();
      return r === undefined ? undefined : entries(label, r);
    });
  recordCounter(
    'admin_refusals_total',
    'Calls of admin methods (Torrents) refused: not_admin (no credential from outside --admin-sources; PERMISSION_DENIED) or bad_token (UNAUTHENTICATED).',
    'reason',
    () => src.adminRefusals?.(),
  );
  recordCounter(
    'process_errors_total',
    'Unexpected errors, by where they surfaced: uncaught_exception (the process exits), unhandled_rejection, grpc_internal (answered INTERNAL).',
    'kind',
    () => src.processErrors?.(),
  );

  // --- Tracker endpoint -----------------------------------------------------
  const trackerAnnounces = new Counter({
    name: `${p}tracker_announces_total`,
    help: 'HTTP tracker announces (GET /announce), by BEP 3 event and result.',
    labelNames: ['event', 'result'],
    registers: [registry],
  });
  const trackerScrapes = new Counter({
    name: `${p}tracker_scrapes_total`,
    help: 'HTTP tracker scrapes (GET /scrape, BEP 48), by result.',
    labelNames: ['result'],
    registers: [registry],
  });

  // --- Torrents -------------------------------------------------------------
  const torrents = new TorrentMeter();
  // Three families read the torrents; one snapshot per scrape (all collect
  // callbacks of one scrape run in the same tick) serves them all.
  let torrentTotals: TorrentTotals | undefined;
  const torrentsNow = (): TorrentTotals => {
    if (torrentTotals === undefined) {
      torrentTotals = torrents.totals(src.torrents?.() ?? []);
      setImmediate(() => (torrentTotals = undefined));
    }
    return torrentTotals;
  };
  new Counter({
    name: `${p}torrent_payload_bytes_total`,
    help: 'BitTorrent piece payload bytes transferred by this agent, by direction (down, up).',
    labelNames: ['direction'],
    registers: [registry],
    collect() {
      const t = torrentsNow();
      this.reset();
      this.inc({ direction: 'down' }, t.downloaded);
      this.inc({ direction: 'up' }, t.uploaded);
    },
  });
  new Gauge({
    name: `${p}torrent_peers`,
    help: 'Peer-wire connections with a completed handshake, over all torrents.',
    registers: [registry],
    collect() {
      this.set(torrentsNow().peers);
    },
  });
  new Gauge({
    name: `${p}torrents`,
    help: 'Torrents this agent runs, by state (downloading, seeding, paused, ...).',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [state, n] of torrentsNow().states) this.set({ state }, n);
    },
  });

  return {
    registry,
    grpcInterceptor: callMetricsInterceptor((path, code, seconds) => {
      // "/btoverlay.v1.Overlay/Announce" → service, method. Only registered
      // methods reach interceptors, so the label values are bounded.
      const slash = path.lastIndexOf('/');
      rpc.observe(
        {
          service: path.slice(1, slash),
          method: path.slice(slash + 1),
          code: GrpcStatus[code] ?? String(code),
        },
        seconds,
      );
    }),
    tracker: {
      announce: (event, result) => trackerAnnounces.inc({ event, result }),
      scrape: (result) => trackerScrapes.inc({ result }),
    },
    cluster(direction, messages) {
      for (const t of clusterTraffic(messages)) {
        gossipMessages.inc({ kind: t.kind, direction }, t.messages);
        gossipBytes.inc({ kind: t.kind, direction }, t.bytes);
      }
    },
    connection: (protocol) => connections.inc({ protocol }),
    connectionRejected: (reason) => connectionRejects.inc({ reason }),
    httpRequest: (route, status, seconds) => http.observe({ route, code: String(status) }, seconds),
    setSources(sources) {
      src = { ...src, ...sources };
    },
    render: () => registry.metrics(),
  };
}
