/**
 * Typed errors of the agent's torrent manager. The gRPC edge
 * (`transport/torrents-service.ts`) maps them to status codes, once; the shared agent
 * errors (InvalidArgumentError, ResourceExhaustedError, UnavailableError) are used as well.
 */

/** No torrent matches the id. Maps to NOT_FOUND. */
export class TorrentNotFoundError extends Error {
  override name = 'TorrentNotFoundError';
  constructor(readonly id: string) {
    super(`no torrent ${JSON.stringify(id)} on this agent`);
  }
}

/** The agent already has this info hash. Maps to ALREADY_EXISTS. */
export class TorrentExistsError extends Error {
  override name = 'TorrentExistsError';
  constructor(readonly id: string) {
    super(`torrent ${id} is already on this agent`);
  }
}

/**
 * The data directory is locked by another live agent process (two agents must not share
 * one, their resume state would interleave). Maps to FAILED_PRECONDITION.
 */
export { DataDirLockedError } from '../fs/lock.js';
