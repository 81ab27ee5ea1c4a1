/**
 * Announce and scrape requests (BEP 3 §Trackers, BEP 23, BEP 48) from decoded
 * query parameters, validated. Pure.
 */
import type { InfoHashKey } from '../store/infohash.js';
import { TrackerRequestError } from './errors.js';
import type { QueryParams } from './query.js';

/** BEP 3: info_hash and peer_id are 20 bytes. */
const ID_LENGTH = 20;
/** Byte counts beyond 2^53 cannot be held exactly; no real torrent comes near. */
const MAX_COUNT = Number.MAX_SAFE_INTEGER;

/** BEP 3 events, plus BEP 21's `paused` (a partial seed); '' is a regular announce. */
export type AnnounceEvent = '' | 'started' | 'completed' | 'stopped' | 'paused';
const EVENTS: readonly string[] = ['', 'started', 'completed', 'stopped', 'paused'];

/** One validated announce. */
export interface AnnounceRequest {
  /** The Store key (lowercase hex of the 20 raw bytes). */
  readonly infoHash: InfoHashKey;
  /** The 20 raw bytes as a latin1 string (the Store's form). */
  readonly peerId: string;
  readonly port: number;
  readonly uploaded: number;
  readonly downloaded: number;
  readonly left: number;
  readonly event: AnnounceEvent;
  /** BEP 23: compact=1 (also the default when absent); compact=0 asks for dictionaries. */
  readonly compact: boolean;
  /** no_peer_id=1: leave `peer id` out of dictionary peers. */
  readonly noPeerId: boolean;
  /** Peers asked for; undefined when absent or negative (some clients send -1). */
  readonly numwant: number | undefined;
  /** The `ip` parameter as sent (validated as an address only when it is honoured). */
  readonly ip: string | undefined;
}

function single(params: QueryParams, name: string): string | undefined {
  const values = params.get(name);
  return values === undefined ? undefined : values[values.length - 1];
}

function required(params: QueryParams, name: string): string {
  const v = single(params, name);
  if (v === undefined) throw new TrackerRequestError('missing_param', `missing ${name}`);
  return v;
}

function count(text: string, name: string): number {
  if (!/^\d{1,16}$/.test(text) || Number(text) > MAX_COUNT) {
    throw new TrackerRequestError('bad_number', `${name} must be an integer 0..2^53-1`);
  }
  return Number(text);
}

function infoHashOf(raw: string): InfoHashKey {
  if (raw.length !== ID_LENGTH) {
    throw new TrackerRequestError('bad_info_hash', `info_hash must be 20 bytes, got ${raw.length}`);
  }
  return Buffer.from(raw, 'latin1').toString('hex');
}

/** Validates an announce's parameters. Throws TrackerRequestError. */
export function parseAnnounce(params: QueryParams): AnnounceRequest {
  const infoHash = infoHashOf(required(params, 'info_hash'));
  const peerId = required(params, 'peer_id');
  if (peerId.length !== ID_LENGTH) {
    throw new TrackerRequestError('bad_peer_id', `peer_id must be 20 bytes, got ${peerId.length}`);
  }
  const portText = required(params, 'port');
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : 0;
  if (port < 1 || port > 65535) throw new TrackerRequestError('bad_port', 'port must be 1-65535');
  const left = count(required(params, 'left'), 'left');
  const uploadedText = single(params, 'uploaded');
  const downloadedText = single(params, 'downloaded');
  const event = single(params, 'event') ?? '';
  if (!EVENTS.includes(event)) {
    throw new TrackerRequestError(
      'bad_event',
      'event must be started, completed, stopped, paused or empty',
    );
  }
  const numwantText = single(params, 'numwant');
  let numwant: number | undefined;
  if (numwantText !== undefined && numwantText !== '') {
    if (!/^-?\d{1,9}$/.test(numwantText)) {
      throw new TrackerRequestError('bad_number', 'numwant must be an integer');
    }
    const n = Number(numwantText);
    numwant = n < 0 ? undefined : n;
  }
  const ip = single(params, 'ip');
  return {
    infoHash,
    peerId,
    port,
    uploaded: uploadedText === undefined ? 0 : count(uploadedText, 'uploaded'),
    downloaded: downloadedText === undefined ? 0 : count(downloadedText, 'downloaded'),
    left,
    event: event as AnnounceEvent,
    compact: single(params, 'compact') !== '0',
    noPeerId: single(params, 'no_peer_id') === '1',
    numwant,
    ip: ip === undefined || ip === '' ? undefined : ip,
  };
}

/**
 * The info hashes of a scrape (BEP 48: `info_hash` repeated). A scrape without any
 * is a "full scrape" of every torrent, which BEP 48 lets a tracker refuse: with
 * up to millions of info hashes it would be an unbounded reply.
 */
export function parseScrape(params: QueryParams, maxInfoHashes: number): InfoHashKey[] {
  const raw = params.get('info_hash') ?? [];
  if (raw.length === 0) {
    throw new TrackerRequestError('bad_scrape', 'full scrape not supported: give info_hash');
  }
  if (raw.length > maxInfoHashes) {
    throw new TrackerRequestError(
      'bad_scrape',
      `at most ${maxInfoHashes} info_hash values per scrape, got ${raw.length}`,
    );
  }
  return [...new Set(raw.map(infoHashOf))];
}
