/**
 * Typed errors of the security layer, mapped once at the edge
 * (transport/grpc-status.ts) to gRPC status codes.
 */
import { ResourceExhaustedError } from '../errors.js';

/** What a caller past its per-source Gossip/Exchange rate gets (RESOURCE_EXHAUSTED). */
export function clusterRateLimitError(): ResourceExhaustedError {
  return new ResourceExhaustedError(
    'cluster_rate_limit',
    'too many Gossip/Exchange calls from this address (--cluster-rate-limit)',
  );
}

/** The caller did not prove it holds the cluster key (or the admin token). Maps to UNAUTHENTICATED. */
export class UnauthenticatedError extends Error {
  override name = 'UnauthenticatedError';
  /** Why, as counted (e.g. `bad_mac`). */
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.reason = reason;
  }
}

/** The caller is known but not allowed to do this. Maps to PERMISSION_DENIED. */
export class PermissionDeniedError extends Error {
  override name = 'PermissionDeniedError';
  /** Why, as counted (e.g. `foreign_addr`). */
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.reason = reason;
  }
}
