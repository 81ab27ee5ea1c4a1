import { status, type ServiceError, Metadata } from '@grpc/grpc-js';
import { InvalidArgumentError, ResourceExhaustedError, UnavailableError } from '../errors.js';
import { PermissionDeniedError, UnauthenticatedError } from '../security/errors.js';
import {
  DataDirLockedError,
  TorrentExistsError,
  TorrentNotFoundError,
} from '../torrents/errors.js';

/** The gRPC status code for an error thrown by the agent's core. */
export function grpcCodeOf(err: unknown): status {
  if (err instanceof InvalidArgumentError) return status.INVALID_ARGUMENT;
  if (err instanceof ResourceExhaustedError) return status.RESOURCE_EXHAUSTED;
  if (err instanceof UnauthenticatedError) return status.UNAUTHENTICATED;
  if (err instanceof PermissionDeniedError) return status.PERMISSION_DENIED;
  if (err instanceof UnavailableError) return status.UNAVAILABLE;
  if (err instanceof TorrentNotFoundError) return status.NOT_FOUND;
  if (err instanceof TorrentExistsError) return status.ALREADY_EXISTS;
  if (err instanceof DataDirLockedError) return status.FAILED_PRECONDITION;
  return status.INTERNAL;
}

/**
 * Maps any error to a gRPC ServiceError: the one place typed errors become status
 * codes. Internal errors keep their detail out of the reply; the original error
 * rides along as `cause` (never sent) for the edge to log (grpc-errors.ts).
 */
export function toServiceError(err: unknown): Partial<ServiceError> {
  const code = grpcCodeOf(err);
  if (code === status.INTERNAL)
    return { code, details: 'internal error', metadata: new Metadata(), cause: err };
  return { code, details: (err as Error).message, metadata: new Metadata() };
}
