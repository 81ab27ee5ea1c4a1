/**
 * Why the tracker endpoint refused a request. Each becomes the bencoded
 * `failure reason` (BEP 3) with a human-readable detail, and a bounded metrics label.
 */
export const TRACKER_FAILURES = [
  /** A required parameter (info_hash, peer_id, port, left) is missing. */
  'missing_param',
  /** info_hash is not 20 bytes (BEP 3: the SHA-1 of the info dictionary). */
  'bad_info_hash',
  /** peer_id is not 20 bytes (BEP 3). */
  'bad_peer_id',
  /** port is not 1-65535. */
  'bad_port',
  /** uploaded, downloaded, left or numwant is not a non-negative integer. */
  'bad_number',
  /** event is not started, completed, stopped, paused or empty. */
  'bad_event',
  /** The `ip` parameter (when honoured) is not an address. */
  'bad_ip',
  /** The query is malformed or too large (too many parameters, a value too long). */
  'bad_query',
  /** A scrape without info_hash (a full scrape is refused: BEP 48 allows it) or with too many. */
  'bad_scrape',
  /** The agent holds its maximum number of info hashes. */
  'tracker_full',
  /** More announces arrived at once than the agent can sign (its signing backlog is full). */
  'busy',
  /** Too many requests from this source (the security layer's per-source limit). */
  'rate_limited',
  /** An `ip` parameter naming another host, refused by the announce address check. */
  'foreign_addr',
  /** The announcing host already provides --max-providers-per-host ports of this torrent. */
  'host_limit',
] as const;

/** One of TRACKER_FAILURES. */
export type TrackerFailure = (typeof TRACKER_FAILURES)[number];

/** A request the tracker refuses: answered with a bencoded `failure reason`. */
export class TrackerRequestError extends Error {
  override name = 'TrackerRequestError';
  constructor(
    readonly reason: TrackerFailure,
    message: string,
  ) {
    super(message);
  }
}
