/**
 * The query string of a tracker request, decoded to raw bytes. BEP 3 sends
 * info_hash and peer_id as URL-escaped binary (RFC 3986 §2.1 percent-encoding of
 * each byte), so values are kept as byte strings — latin1, one character per
 * byte — never as UTF-8 text. Pure.
 */
import { TrackerRequestError } from './errors.js';

/** Parameters by name, each with its values in order (scrape repeats info_hash). */
export type QueryParams = Map<string, string[]>;

/** Bounds applied while parsing. */
export interface QueryLimits {
  /** Parameters (name=value pairs) in one query. */
  readonly maxParams: number;
  /** Decoded bytes in one value. */
  readonly maxValueBytes: number;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/**
 * Percent-decodes `text[start, end)` to a byte string; `+` is a space
 * (application/x-www-form-urlencoded, which some clients use).
 */
function decode(text: string, start: number, end: number): string {
  let plain = true;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x25 || c === 0x2b || c > 0xff) {
      plain = false;
      break;
    }
  }
  if (plain) return text.slice(start, end);
  // Bytes into a scratch buffer, then one flat string (not a chain of one-char appends).
  if (scratch.length < end - start) scratch = Buffer.allocUnsafe(end - start);
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x25 /* % */) {
      const hi = i + 2 < end ? hexValue(text.charCodeAt(i + 1)) : -1;
      const lo = hi < 0 ? -1 : hexValue(text.charCodeAt(i + 2));
      if (lo < 0) throw new TrackerRequestError('bad_query', `bad %-escape at offset ${i}`);
      scratch[n++] = (hi << 4) | lo;
      i += 2;
    } else if (c === 0x2b /* + */) scratch[n++] = 0x20;
    else if (c > 0xff) throw new TrackerRequestError('bad_query', 'non-ASCII character in query');
    else scratch[n++] = c;
  }
  return scratch.toString('latin1', 0, n);
}

/** Reused by `decode` (grown to the longest escaped value seen). */
let scratch = Buffer.allocUnsafe(256);

/**
 * Parses `a=1&b=%41` into byte strings. A name without `=` has an empty value;
 * empty pairs (`&&`) are skipped. Throws TrackerRequestError('bad_query') on a
 * malformed escape or a bound exceeded.
 */
export function parseQuery(query: string, limits: QueryLimits): QueryParams {
  const params: QueryParams = new Map();
  let count = 0;
  let start = 0;
  while (start <= query.length) {
    let end = query.indexOf('&', start);
    if (end < 0) end = query.length;
    if (end > start) {
      if (++count > limits.maxParams) {
        throw new TrackerRequestError('bad_query', `more than ${limits.maxParams} parameters`);
      }
      let eq = query.indexOf('=', start);
      if (eq < 0 || eq > end) eq = end;
      const name = decode(query, start, eq);
      const value = eq < end ? decode(query, eq + 1, end) : '';
      if (value.length > limits.maxValueBytes) {
        throw new TrackerRequestError(
          'bad_query',
          `parameter ${name.slice(0, 32)} longer than ${limits.maxValueBytes} bytes`,
        );
      }
      const values = params.get(name);
      if (values === undefined) params.set(name, [value]);
      else values.push(value);
    }
    start = end + 1;
  }
  return params;
}
