import type {
  ClusterServer,
  ExchangeRequest,
  ExchangeResponse,
} from '../../generated/btoverlay/v1/cluster.js';
import type { ClusterMessage } from '../../generated/btoverlay/v1/cluster.js';
import { clusterRateLimitError, UnauthenticatedError } from '../security/errors.js';
import { callerIp } from '../security/grpc-caller.js';
import type { ClusterAuthenticator, ClusterAuthRefusal } from '../security/cluster-auth.js';
import { openBatch, sealBatch } from './cluster-seal.js';
import { unary } from './unary.js';

/** Cluster authentication on the serving side (--cluster-key). */
export interface ClusterServiceAuth {
  /** Undefined: this agent has no key, and refuses sealed (keyed) requests. */
  readonly auth: ClusterAuthenticator | undefined;
  readonly clock: () => number;
  /** Called for every refused request (counting, logging). */
  readonly onRefuse: (reason: ClusterAuthRefusal, peer: string) => void;
  /** Per-source rate limit, asked before anything is opened (false: RESOURCE_EXHAUSTED). */
  readonly allow?: (ip: string | undefined) => boolean;
}

/** Something that handles a batch of cluster messages and returns the replies to the caller. */
export interface ClusterHandler {
  handle(messages: ClusterMessage[]): ClusterMessage[];
}

/**
 * The Cluster gRPC service: hands batches to the gossip driver. With a cluster
 * key, a request must carry a valid MAC over its sealed batch (else
 * UNAUTHENTICATED, counted) and the replies are sealed bound to its nonce.
 */
export function createClusterService(
  handler: () => ClusterHandler | undefined,
  security?: ClusterServiceAuth,
): ClusterServer {
  const refuse = (reason: ClusterAuthRefusal, peer: string, message: string): never => {
    security?.onRefuse(reason, peer);
    throw new UnauthenticatedError(reason, message);
  };
  return {
    exchange: unary((req: ExchangeRequest, call): ExchangeResponse => {
      if (security?.allow?.(callerIp(call)) === false) throw clusterRateLimitError();
      const h = handler();
      const auth = security?.auth;
      if (auth === undefined) {
        if (req.auth !== undefined || req.sealed.length > 0) {
          refuse('not_keyed', call.getPeer(), 'this agent has no cluster key');
        }
        return {
          messages: h === undefined ? [] : h.handle(req.messages),
          sealed: Buffer.alloc(0),
          auth: undefined,
        };
      }
      const now = security!.clock();
      const opened = openBatch(auth, 'request', req.sealed, req.auth, now);
      if ('refused' in opened) {
        return refuse(
          opened.refused,
          call.getPeer(),
          `cluster authentication failed (${opened.refused}): this agent requires the cluster key`,
        );
      }
      const replies = h === undefined ? [] : h.handle(opened.messages);
      const out = sealBatch(auth, 'response', replies, security!.clock(), opened.nonce);
      return { messages: [], sealed: out.sealed, auth: out.auth };
    }),
  };
}
