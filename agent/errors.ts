/**
 * Typed errors of the agent. Code throws these; the transport edge maps them once
 * (see `transport/grpc-status.ts`) to gRPC status codes, and the CLIs to exit codes.
 */

/** Input that can never be accepted as sent: a malformed field. Maps to INVALID_ARGUMENT. */
export class InvalidArgumentError extends Error {
  override name = 'InvalidArgumentError';
  /** The name of the offending field as the wire knows it, e.g. `info_hash`. */
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}

/** A malformed info hash (not 20 or 32 bytes, or an unparseable text form). */
export class InvalidInfoHashError extends InvalidArgumentError {
  override name = 'InvalidInfoHashError';
  constructor(message: string, field = 'info_hash') {
    super(field, message);
  }
}

/** A malformed provider address ("host:port"). */
export class InvalidAddrError extends InvalidArgumentError {
  override name = 'InvalidAddrError';
  constructor(message: string, field = 'provider.addr') {
    super(field, message);
  }
}

/** A bound (size, count, rate) was hit. Maps to RESOURCE_EXHAUSTED. */
export class ResourceExhaustedError extends Error {
  override name = 'ResourceExhaustedError';
  /** Which bound, e.g. `max_info_hashes`. */
  readonly bound: string;
  constructor(bound: string, message: string) {
    super(message);
    this.bound = bound;
  }
}

/** The agent is shutting down or not ready. Maps to UNAVAILABLE. */
export class UnavailableError extends Error {
  override name = 'UnavailableError';
}

/** A bad flag or environment variable given to `btagent`. Exit code 2. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}
