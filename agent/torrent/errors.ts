/**
 * Typed errors of the torrent engine. The CLI maps them to exit codes in one place
 * (`cli.ts`): usage errors → 2, everything else → 1.
 */

/** A .torrent file that cannot be used; `field` names the offending key, e.g. `info.pieces`. */
export class MetainfoError extends Error {
  override name = 'MetainfoError';
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}

/** A magnet link that cannot be used; `field` names the parameter, e.g. `xt` or `tr`. */
export class MagnetError extends Error {
  override name = 'MagnetError';
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}

/** A peer broke the peer-wire protocol (BEP 3/6/10). The connection is closed and counted. */
export class WireProtocolError extends Error {
  override name = 'WireProtocolError';
}

/** The data directory cannot be used (path traversal, I/O failure, size mismatch). */
export class StorageError extends Error {
  override name = 'StorageError';
}

/** A tracker announce failed: network error, bad response or a `failure reason`. */
export class TrackerError extends Error {
  override name = 'TrackerError';
}

/** A command-line argument is invalid; `argument` names it (exit code 2). */
export class UsageError extends Error {
  override name = 'UsageError';
  readonly argument: string;
  constructor(argument: string, message: string) {
    super(`${argument}: ${message}`);
    this.argument = argument;
  }
}
