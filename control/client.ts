import { status, type Client } from '@grpc/grpc-js';
import { MemberState } from '../generated/btoverlay/v1/cluster.js';
import {
  ControlClient,
  type DigestResponse,
  type MembersResponse,
  type StatusResponse,
} from '../generated/btoverlay/v1/control.js';
import { OverlayClient } from '../generated/btoverlay/v1/overlay.js';
import type { Provider as WireProvider } from '../generated/btoverlay/v1/provider.js';
import { AgentCallError, unaryCaller } from './call.js';
import { createHealthClient, type HealthStatus } from './health.js';
import { clientChannel, type ClientTls } from './tls.js';

/** A provider as the client library returns it. */
export interface Provider {
  /** "host:port" of the provider's peer-wire listener. */
  addr: string;
  /** The peer id's raw bytes. */
  peerId: Buffer;
  /** Bytes left to download (0 = seeder). */
  left: bigint;
  /** Unix milliseconds of the last announce. */
  lastSeen: number;
  /** Node id of the agent that accepted the announce ('' for legacy records). */
  origin: string;
}

/** An agent's status. */
export interface AgentStatus {
  nodeId: string;
  version: string;
  startedAt: number;
  uptimeMs: number;
  listenAddr: string;
  advertiseAddr: string;
  infoHashes: number;
  providers: number;
  tombstones: number;
  ttlMs: number;
  /** The agent's Ed25519 public key, hex ('' from agents without one). */
  publicKey: string;
  /** Security refusals since start, by reason. */
  securityRefusals: Record<string, number>;
  /** "keyed" or "unauthenticated" ('' from agents that do not say). */
  clusterAuth: string;
  /** The cluster key's id (fingerprint); '' when unauthenticated. */
  clusterKeyId: string;
}

/** A member's state as btctl shows it. */
export type MemberStateName = 'alive' | 'suspect' | 'dead' | 'left' | 'unknown';

/** One member of the cluster as an agent sees it. */
export interface MemberInfo {
  nodeId: string;
  addr: string;
  state: MemberStateName;
  incarnation: bigint;
  /** Unix ms when the agent last heard from or about it. */
  lastHeard: number;
  /** Unix ms when it entered its state. */
  stateSince: number;
  /** The answering agent itself. */
  isSelf: boolean;
}

/** A digest of an agent's live records (see Control.Digest). */
export interface DigestInfo {
  nodeId: string;
  cutoff: number;
  /** 16 hex digits; "0000000000000000" for no records. */
  root: string;
  bucketHashes: string[];
  bucketCounts: number[];
  records: number;
}

const STATE_NAMES: Record<number, MemberStateName> = {
  [MemberState.MEMBER_STATE_ALIVE]: 'alive',
  [MemberState.MEMBER_STATE_SUSPECT]: 'suspect',
  [MemberState.MEMBER_STATE_DEAD]: 'dead',
  [MemberState.MEMBER_STATE_LEFT]: 'left',
};

const hex64 = (n: bigint): string => n.toString(16).padStart(16, '0');

/** What to announce. */
export interface AnnounceInput {
  infoHash: Uint8Array;
  addr: string;
  peerId?: Uint8Array;
  left?: bigint;
  /** Withdraw instead of register. */
  removed?: boolean;
}

/** Options of `connect`. */
export interface ConnectOptions {
  /** Deadline of each call, ms (default 3000). */
  timeoutMs?: number;
  /** TLS (and a client certificate for mTLS); plaintext when undefined. */
  tls?: ClientTls | undefined;
  /** The agent's admin token (btctl --token-file), sent on Torrents calls only. */
  token?: string | undefined;
}

// Re-exported: callers of the library catch it from here.
export { AgentCallError } from './call.js';

/** A typed client of one agent. Stateless apart from its gRPC channels. */
export interface AgentClient {
  readonly node: string;
  lookup(infoHash: Uint8Array, limit?: number): Promise<Provider[]>;
  announce(input: AnnounceInput): Promise<Provider>;
  status(): Promise<AgentStatus>;
  /** The agent's member list, itself included. */
  members(): Promise<MemberInfo[]>;
  /** A digest of the agent's records live at `cutoff` (0 = the agent picks). */
  digest(cutoff?: number, buckets?: number): Promise<DigestInfo>;
  /** grpc.health.v1 status of the whole server (service ''). */
  health(service?: string): Promise<HealthStatus>;
  close(): void;
}

function fromWire(p: WireProvider): Provider {
  return {
    addr: p.addr,
    peerId: p.peerId,
    left: p.left,
    lastSeen: Number(p.lastSeen),
    origin: p.origin,
  };
}

/** Connects to an agent at "host:port" (no I/O until the first call). */
export function connect(node: string, options: ConnectOptions = {}): AgentClient {
  const timeoutMs = options.timeoutMs ?? 3000;
  const { creds, options: channelOptions } = clientChannel(options.tls);
  const overlay = new OverlayClient(node, creds, channelOptions);
  const control = new ControlClient(node, creds, channelOptions);
  const health = createHealthClient(node, creds, channelOptions);
  const clients: Client[] = [overlay, control, health];

  const call = unaryCaller(node, timeoutMs);

  return {
    node,
    async lookup(infoHash, limit = 50) {
      const res = await call<{ providers: WireProvider[] }>((md, o, cb) =>
        overlay.lookup({ infoHash: Buffer.from(infoHash), limit }, md, o, cb),
      );
      return res.providers.map(fromWire);
    },
    async announce(input) {
      const res = await call<{ provider?: WireProvider }>((md, o, cb) =>
        overlay.announce(
          {
            infoHash: Buffer.from(input.infoHash),
            provider: {
              addr: input.addr,
              peerId: Buffer.from(input.peerId ?? new Uint8Array()),
              left: input.left ?? 0n,
              lastSeen: 0n,
              origin: '',
              removed: false,
              originKey: Buffer.alloc(0),
              signature: Buffer.alloc(0),
            },
            removed: input.removed ?? false,
          },
          md,
          o,
          cb,
        ),
      );
      if (res.provider === undefined)
        throw new AgentCallError(node, status.INTERNAL, 'empty announce reply');
      return fromWire(res.provider);
    },
    async status() {
      const s = await call<StatusResponse>((md, o, cb) => control.status({}, md, o, cb));
      return {
        nodeId: s.nodeId,
        version: s.version,
        startedAt: Number(s.startedAt),
        uptimeMs: Number(s.uptimeMs),
        listenAddr: s.listenAddr,
        advertiseAddr: s.advertiseAddr,
        infoHashes: Number(s.infoHashes),
        providers: Number(s.providers),
        tombstones: Number(s.tombstones),
        ttlMs: Number(s.ttlMs),
        publicKey: Buffer.from(s.publicKey).toString('hex'),
        securityRefusals: Object.fromEntries(
          Object.entries(s.securityRefusals).map(([k, v]) => [k, Number(v)]),
        ),
        clusterAuth: s.clusterAuth,
        clusterKeyId: s.clusterKeyId,
      };
    },
    async members() {
      const res = await call<MembersResponse>((md, o, cb) => control.members({}, md, o, cb));
      return res.members.map((m) => ({
        nodeId: m.nodeId,
        addr: m.addr,
        state: STATE_NAMES[m.state] ?? 'unknown',
        incarnation: m.incarnation,
        lastHeard: Number(m.lastHeard),
        stateSince: Number(m.stateSince),
        isSelf: m.isSelf,
      }));
    },
    async digest(cutoff = 0, buckets = 0) {
      const d = await call<DigestResponse>((md, o, cb) =>
        control.digest({ cutoff: BigInt(cutoff), buckets }, md, o, cb),
      );
      return {
        nodeId: d.nodeId,
        cutoff: Number(d.cutoff),
        root: hex64(d.root),
        bucketHashes: d.bucketHashes.map(hex64),
        bucketCounts: d.bucketCounts,
        records: Number(d.records),
      };
    },
    async health(service = '') {
      const res = await call<{ status: HealthStatus }>((md, o, cb) =>
        health.check({ service }, md, o, cb),
      );
      return res.status;
    },
    close() {
      for (const c of clients) c.close();
    },
  };
}
