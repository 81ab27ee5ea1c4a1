/**
 * Why a legacy connection was closed without a reply (or its message ignored).
 * Each is counted; the names are stable so that a metrics registry can export
 * them as label values.
 */
export const LEGACY_REJECT_REASONS = [
  /** Not valid JSON (or invalid UTF-8 turned into it). */
  'invalid_json',
  /** Valid JSON, but not an object (the sniffer only lets `{` through, so rare). */
  'not_object',
  /** `type` missing or not gossip/announce/lookup. */
  'unknown_type',
  /** A known field with the wrong JSON type (Go's typed decoding fails the message). */
  'bad_field_type',
  /** `info_hash` neither the 60-character `%XX` form nor 40 hex digits. */
  'bad_info_hash',
  /** A lookup without `info_hash`. */
  'missing_info_hash',
  /** A provider `addr` that is not host:port. */
  'bad_addr',
  /** A provider `peer_id` longer than 20 bytes. */
  'bad_peer_id',
  /** A fractional, negative or out-of-range number. */
  'bad_number',
  /** More providers in one message than the configured maximum. */
  'too_many_providers',
  /** No complete JSON value within the line cap. */
  'line_too_long',
  /** No complete JSON value within the read timeout. */
  'read_timeout',
  /** The peer closed before sending a complete JSON value. */
  'truncated',
  /** Over the cap of concurrent legacy connections. */
  'too_many_connections',
  /** An announce or gossip while the legacy mode is read-only (ignored, not an error). */
  'read_only',
  /** An announce or gossip from an address not in --legacy-peers / --legacy-sources (dropped). */
  'not_legacy_source',
] as const;

/** One of LEGACY_REJECT_REASONS. */
export type LegacyRejectReason = (typeof LEGACY_REJECT_REASONS)[number];

/** A legacy message that must be dropped (connection closed without a reply). */
export class LegacyProtocolError extends Error {
  override name = 'LegacyProtocolError';
  constructor(
    readonly reason: LegacyRejectReason,
    message: string,
  ) {
    super(`${reason}: ${message}`);
  }
}
