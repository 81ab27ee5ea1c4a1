/**
 * The legacy JSON-over-TCP overlay protocol (see the shared legacy-wire contract):
 * framing, decoding with the deployed Go node's typing rules, and encoding byte for
 * byte as Go's encoding/json writes it. Pure: no sockets, no clock (time is a
 * parameter).
 */
import { InvalidArgumentError } from '../errors.js';
import type { InfoHashKey } from '../store/infohash.js';
import { MAX_PEER_ID_LENGTH, parseAddr, type ProviderRecord } from '../store/record.js';
import { LegacyProtocolError } from './errors.js';

/** The three message types (matched case-insensitively on input). */
export type LegacyMessageType = 'gossip' | 'announce' | 'lookup';

/** A provider as a legacy message carries it, validated. */
export interface LegacyProvider {
  /** "host:port", validated by parseAddr. */
  readonly addr: string;
  /** Raw peer id bytes as a latin1 string (≤ 20 bytes), the Store's form. */
  readonly peerId: string;
  /** Bytes left; a safe integer ≥ 0. */
  readonly left: number;
  /** Unix SECONDS; 0 when missing. May exceed 2^53 (it is then clamped). */
  readonly lastSeen: number;
}

/** One decoded legacy message. */
export interface LegacyMessage {
  readonly type: LegacyMessageType;
  /** The Store key, or undefined when `info_hash` was omitted or empty. */
  readonly infoHash: InfoHashKey | undefined;
  readonly providers: readonly LegacyProvider[];
  /** `limit`; 0 (or negative, as in Go's `limit > 0` test) means no limit. */
  readonly limit: number;
}

/** Bounds applied while decoding. */
export interface DecodeLimits {
  /** Providers per message (the issue's bound: ≤ 500). */
  readonly maxProviders: number;
}

/** Length of an info hash in the `%XX` form: 20 bytes × 3 characters. */
export const PCT_INFO_HASH_LENGTH = 60;
/** Go's int64 range, which its typed decoder enforces for `left`, `last_seen`, `limit`. */
const INT64_LIMIT = 2 ** 63;
const PCT_FORM = /^(?:%[0-9A-Fa-f]{2}){20}$/;
const HEX_FORM = /^[0-9A-Fa-f]{40}$/;

/**
 * Parses the legacy `info_hash` string: the URL-escaped form (`%` + 2 hex digits
 * per byte, 60 characters; uppercase is what Go writes, either case is accepted)
 * or, as a convenience, 40 hex digits. Returns the Store key (lowercase hex).
 */
export function parseLegacyInfoHash(text: string): InfoHashKey {
  if (text.length === PCT_INFO_HASH_LENGTH && PCT_FORM.test(text)) {
    return text.replace(/%/g, '').toLowerCase();
  }
  if (text.length === 40 && HEX_FORM.test(text)) return text.toLowerCase();
  throw new LegacyProtocolError(
    'bad_info_hash',
    `info_hash must be 20 bytes as %XX (60 characters) or 40 hex digits, got ${text.length} characters`,
  );
}

/**
 * Formats a Store key as the legacy `%XX` form with UPPERCASE hex digits, the only
 * form Go nodes match (they key their store by the opaque string). Returns
 * undefined for keys that are not 20 bytes (v2 info hashes have no legacy form).
 */
export function formatLegacyInfoHash(key: InfoHashKey): string | undefined {
  if (key.length !== 40) return undefined;
  let out = '';
  for (let i = 0; i < 40; i += 2) out += '%' + key.slice(i, i + 2);
  return out.toUpperCase();
}

/**
 * Finds the end of the first JSON value on a legacy connection, chunk by chunk.
 * Go's server decodes ONE value from the stream and ignores what follows, so the
 * end is where the top-level object closes, newline or not. Strings and escapes
 * are tracked so braces inside strings do not count; everything else (validity)
 * is left to the parser.
 */
export class FrameScanner {
  private depth = 0;
  private started = false;
  private inString = false;
  private escape = false;

  /**
   * Scans the next chunk. Returns the offset just past the value's closing brace
   * within this chunk, or -1 if the value is not complete yet. Throws
   * LegacyProtocolError('not_object') if the first non-space byte is not `{`.
   */
  push(chunk: Uint8Array): number {
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      if (this.inString) {
        if (this.escape) this.escape = false;
        else if (b === 0x5c /* \ */) this.escape = true;
        else if (b === 0x22 /* " */) this.inString = false;
        continue;
      }
      if (!this.started) {
        // RFC 8259 §2: insignificant whitespace before the value.
        if (b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09) continue;
        if (b !== 0x7b /* { */) throw new LegacyProtocolError('not_object', 'not a JSON object');
        this.started = true;
        this.depth = 1;
        continue;
      }
      if (b === 0x22) this.inString = true;
      else if (b === 0x7b || b === 0x5b) this.depth++;
      else if (b === 0x7d || b === 0x5d) {
        if (--this.depth === 0) return i + 1;
      }
    }
    return -1;
  }
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function isObject(v: Json): v is { [key: string]: Json } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Go decodes into typed structs and matches keys case-insensitively; a later key
 * overwrites an earlier one; `null` leaves the zero value. Returns the fields of
 * interest by their lowercase names.
 */
function fields(obj: { [key: string]: Json }, names: readonly string[]): Map<string, Json> {
  const out = new Map<string, Json>();
  for (const key of Object.keys(obj)) {
    const lower = key.toLowerCase();
    if (names.includes(lower) && obj[key] !== null) out.set(lower, obj[key]);
  }
  return out;
}

function stringField(f: Map<string, Json>, name: string): string {
  const v = f.get(name);
  if (v === undefined) return '';
  if (typeof v !== 'string')
    throw new LegacyProtocolError('bad_field_type', `${name}: not a string`);
  return v;
}

/** An int64 field as Go decodes it: a JSON number without fraction, in range. */
function intField(f: Map<string, Json>, name: string): number {
  const v = f.get(name);
  if (v === undefined) return 0;
  if (typeof v !== 'number')
    throw new LegacyProtocolError('bad_field_type', `${name}: not a number`);
  if (!Number.isInteger(v) || v >= INT64_LIMIT || v < -INT64_LIMIT) {
    throw new LegacyProtocolError('bad_number', `${name}: ${v} is not a 64-bit integer`);
  }
  return v;
}

const MESSAGE_FIELDS = ['type', 'info_hash', 'providers', 'limit'] as const;
const PROVIDER_FIELDS = ['addr', 'peer_id', 'left', 'last_seen'] as const;

function decodeProvider(v: Json, index: number): LegacyProvider {
  // Go decodes a null element as the zero struct, whose empty addr is refused below.
  const f = v === null ? new Map<string, Json>() : isObject(v) ? fields(v, PROVIDER_FIELDS) : null;
  if (f === null) {
    throw new LegacyProtocolError('bad_field_type', `providers[${index}]: not an object`);
  }
  const addr = stringField(f, 'addr');
  try {
    parseAddr(addr, `providers[${index}].addr`);
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw new LegacyProtocolError('bad_addr', err.message);
    throw err;
  }
  // Go strings are bytes; on the wire they are UTF-8 text. The Store keeps raw bytes.
  const peerIdBytes = Buffer.from(stringField(f, 'peer_id'), 'utf8');
  if (peerIdBytes.length > MAX_PEER_ID_LENGTH) {
    throw new LegacyProtocolError(
      'bad_peer_id',
      `providers[${index}].peer_id: ${peerIdBytes.length} bytes, at most ${MAX_PEER_ID_LENGTH}`,
    );
  }
  const left = intField(f, 'left');
  if (left < 0 || left > Number.MAX_SAFE_INTEGER) {
    throw new LegacyProtocolError('bad_number', `providers[${index}].left: ${left} out of range`);
  }
  const lastSeen = intField(f, 'last_seen');
  if (lastSeen < 0) {
    throw new LegacyProtocolError('bad_number', `providers[${index}].last_seen: negative`);
  }
  return { addr, peerId: peerIdBytes.toString('latin1'), left, lastSeen };
}

/**
 * Decodes one legacy message from the text of one JSON value. Throws
 * LegacyProtocolError with the reason for anything the connection must be closed
 * for without a reply. A lookup without `info_hash` is refused here; a gossip or
 * announce without one is valid and changes nothing (as on a Go node).
 */
export function decodeLegacyMessage(text: string, limits: DecodeLimits): LegacyMessage {
  let value: Json;
  try {
    value = JSON.parse(text) as Json;
  } catch {
    throw new LegacyProtocolError('invalid_json', 'not valid JSON');
  }
  if (!isObject(value)) throw new LegacyProtocolError('not_object', 'not a JSON object');
  const f = fields(value, MESSAGE_FIELDS);
  const typeText = stringField(f, 'type').toLowerCase();
  if (typeText !== 'gossip' && typeText !== 'announce' && typeText !== 'lookup') {
    throw new LegacyProtocolError('unknown_type', `unknown type "${typeText.slice(0, 32)}"`);
  }
  const infoHashText = stringField(f, 'info_hash');
  const rawProviders = f.get('providers') ?? [];
  if (!Array.isArray(rawProviders)) {
    throw new LegacyProtocolError('bad_field_type', 'providers: not an array');
  }
  if (rawProviders.length > limits.maxProviders) {
    throw new LegacyProtocolError(
      'too_many_providers',
      `${rawProviders.length} providers, at most ${limits.maxProviders} per message`,
    );
  }
  const limit = intField(f, 'limit');
  if (typeText === 'lookup' && infoHashText === '') {
    throw new LegacyProtocolError('missing_info_hash', 'lookup without info_hash');
  }
  const infoHash = infoHashText === '' ? undefined : parseLegacyInfoHash(infoHashText);
  const providers = rawProviders.map(decodeProvider);
  return { type: typeText, infoHash, providers, limit: limit > 0 ? limit : 0 };
}

/** Options of converting a legacy provider into a Store record. */
export interface ToRecordOptions {
  /** This agent's time, Unix ms. */
  readonly nowMs: number;
  /** A last_seen beyond now + this is clamped to now (the Store's max skew). */
  readonly maxSkewMs: number;
  /** Origin to mark the record with (who it was learned from). */
  readonly origin: string;
}

/**
 * Converts a legacy provider to a Store record. Legacy time is in seconds. In an
 * `announce`, last_seen 0 (what deployed Go nodes push) means "now"; in a
 * `gossip` it is simply old and the Store will refuse it as expired. A far-future
 * last_seen is clamped to now here, so `clamped` can be counted per protocol.
 */
export function legacyToRecord(
  p: LegacyProvider,
  type: LegacyMessageType,
  options: ToRecordOptions,
): { record: ProviderRecord; clamped: boolean } {
  let lastSeen = p.lastSeen * 1000;
  let clamped = false;
  if (type === 'announce' && p.lastSeen === 0) lastSeen = options.nowMs;
  else if (lastSeen > options.nowMs + options.maxSkewMs) {
    lastSeen = options.nowMs;
    clamped = true;
  }
  return {
    record: {
      addr: p.addr,
      peerId: p.peerId,
      left: p.left,
      lastSeen,
      origin: options.origin,
      removed: false,
    },
    clamped,
  };
}

const HEX = '0123456789abcdef';
// Printable ASCII that Go writes unescaped: everything but " \ < > &.
const PLAIN = /^[\x20\x21\x23-\x25\x27-\x3b\x3d\x3f-\x5b\x5d-\x7e]*$/;

/** Length of a valid UTF-8 sequence starting at `i` (RFC 3629 §4), or 0 if invalid. */
function utf8SequenceLength(b: Buffer, i: number): number {
  const c = b[i];
  const cont = (j: number, lo = 0x80, hi = 0xbf): boolean =>
    j < b.length && b[j] >= lo && b[j] <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(i + 1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const lo = c === 0xe0 ? 0xa0 : 0x80;
    const hi = c === 0xed ? 0x9f : 0xbf;
    return cont(i + 1, lo, hi) && cont(i + 2) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const lo = c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xf4 ? 0x8f : 0xbf;
    return cont(i + 1, lo, hi) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  }
  return 0;
}

/**
 * Quotes raw bytes as a JSON string exactly as Go's encoding/json does (Go 1.22+):
 * `<`, `>`, `&`, U+2028 and U+2029 as \u escapes, \b \f \n \r \t short escapes,
 * other control bytes as \u00xx, and each byte of invalid UTF-8 as `\ufffd`.
 */
export function goQuote(bytes: Buffer): string {
  const latin1 = bytes.toString('latin1');
  if (PLAIN.test(latin1)) return `"${latin1}"`;
  let out = '"';
  let i = 0;
  while (i < bytes.length) {
    const c = bytes[i];
    if (c < 0x80) {
      if (c === 0x22) out += '\\"';
      else if (c === 0x5c) out += '\\\\';
      else if (c === 0x0a) out += '\\n';
      else if (c === 0x0d) out += '\\r';
      else if (c === 0x09) out += '\\t';
      else if (c === 0x08) out += '\\b';
      else if (c === 0x0c) out += '\\f';
      else if (c < 0x20 || c === 0x3c || c === 0x3e || c === 0x26) {
        out += '\\u00' + HEX[c >> 4] + HEX[c & 15];
      } else out += String.fromCharCode(c);
      i++;
      continue;
    }
    const n = utf8SequenceLength(bytes, i);
    if (n === 0) {
      out += '\\ufffd';
      i++;
      continue;
    }
    const text = bytes.toString('utf8', i, i + n);
    if (text === '\u2028') out += '\\u2028';
    else if (text === '\u2029') out += '\\u2029';
    else out += text;
    i += n;
  }
  return out + '"';
}

/** One ProviderMeta in Go's field order, `last_seen` in whole seconds. */
export function encodeLegacyProvider(r: ProviderRecord): string {
  return (
    `{"addr":${goQuote(Buffer.from(r.addr, 'latin1'))},` +
    `"peer_id":${goQuote(Buffer.from(r.peerId, 'latin1'))},` +
    `"left":${r.left},"last_seen":${Math.floor(r.lastSeen / 1000)}}`
  );
}

/** The reply to a lookup: a JSON array and a newline (`[]` when there is none). */
export function encodeLookupReply(records: readonly ProviderRecord[]): string {
  let out = '[';
  for (let i = 0; i < records.length; i++) {
    if (i > 0) out += ',';
    out += encodeLegacyProvider(records[i]);
  }
  return out + ']\n';
}

/**
 * A gossip message as a Go node writes it: `type`, `info_hash` (the uppercase %XX
 * form), `providers` (omitted when empty), newline. `providers` are already
 * encoded with encodeLegacyProvider.
 */
export function encodeGossip(pctInfoHash: string, providers: readonly string[]): string {
  const list = providers.length === 0 ? '' : `,"providers":[${providers.join(',')}]`;
  return `{"type":"gossip","info_hash":"${pctInfoHash}"${list}}\n`;
}

/** A lookup as a Go client writes it (`limit` omitted when 0). */
export function encodeLookup(pctInfoHash: string, limit: number): string {
  return `{"type":"lookup","info_hash":"${pctInfoHash}"${limit > 0 ? `,"limit":${limit}` : ''}}\n`;
}
