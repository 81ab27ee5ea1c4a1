import type { ServerUnaryCall } from '@grpc/grpc-js';
import type {
  ControlServer,
  DigestRequest,
  StatusResponse,
} from '../../generated/btoverlay/v1/control.js';
import type { Membership } from '../membership/swim.js';
import type { Replica } from '../replica.js';
import { digestReply, membersReply } from './cluster-control.js';
import { unary } from './unary.js';

/** What the Control service reports about the agent besides the Store. */
export interface AgentIdentity {
  readonly version: string;
  readonly startedAt: number;
  readonly listenAddr: () => string;
  readonly advertiseAddr: () => string;
  /** The cluster membership (for Control.Members); undefined before it starts. */
  readonly membership?: () => Membership | undefined;
  /** The agent's Ed25519 public key, raw (security); empty when unknown. */
  readonly publicKey?: () => Buffer;
  /** Security refusals by reason (agent/security/counters.ts). */
  readonly securityRefusals?: () => Record<string, number>;
  /** The id (fingerprint) of the key sealing cluster traffic; '' = unauthenticated. */
  readonly clusterKeyId?: () => string;
}

/**
 * Checks every Control call passes first (agent/security/: a per-source rate
 * limit, since these reads are open to anyone); throws a typed error to refuse.
 */
export type ControlGuard = (call: ServerUnaryCall<unknown, unknown>) => void;

/** The Control gRPC service: read-only queries for operators and `btctl`. */
export function createControlService(
  replica: Replica,
  identity: AgentIdentity,
  guard: ControlGuard = () => undefined,
): ControlServer {
  return {
    status: unary((_req: unknown, call): StatusResponse => {
      guard(call);
      const now = replica.now();
      const stats = replica.store.stats(now);
      return {
        nodeId: replica.nodeId,
        version: identity.version,
        startedAt: BigInt(identity.startedAt),
        uptimeMs: BigInt(now - identity.startedAt),
        listenAddr: identity.listenAddr(),
        advertiseAddr: identity.advertiseAddr(),
        infoHashes: BigInt(stats.infoHashes),
        providers: BigInt(stats.providers),
        tombstones: BigInt(stats.tombstones),
        ttlMs: BigInt(replica.store.options.ttlMs),
        publicKey: identity.publicKey?.() ?? Buffer.alloc(0),
        securityRefusals: Object.fromEntries(
          Object.entries(identity.securityRefusals?.() ?? {}).map(([k, v]) => [k, BigInt(v)]),
        ),
        clusterKeyId: identity.clusterKeyId?.() ?? '',
        clusterAuth: identity.clusterKeyId?.() ? 'keyed' : 'unauthenticated',
      };
    }),
    members: unary((_req: unknown, call) => {
      guard(call);
      return membersReply(identity.membership?.(), replica.nodeId);
    }),
    digest: unary((req: DigestRequest, call) => {
      guard(call);
      return digestReply(replica, req);
    }),
  };
}
