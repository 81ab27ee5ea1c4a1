/**
 * A deliberately narrow HTTP/1.1 request-head parser for the agent's fast path
 * (transport/http-fast.ts). It recognises only the "simple" requests a tracker
 * client sends — `GET <path>?<query> HTTP/1.1`, a Host header, no body — and
 * says "other" for everything else, which then goes to node:http's full parser
 * unchanged. So it never has to reproduce an error reply: whatever it does not
 * accept keeps node's behaviour. Pure: bytes in, a verdict out.
 *
 * Grammar followed (RFC 9112 §3, §5; RFC 9110 §5.6.2): request-line =
 * "GET" SP request-target SP "HTTP/1.1" CRLF; field-line = field-name ":" OWS
 * field-value OWS CRLF; the head ends with an empty line.
 */

/** Bounds of a head the fast path accepts. */
export interface HeadLimits {
  /** Request line + header lines + the empty line, bytes; a longer head is "other". */
  readonly maxHeadBytes: number;
  /** Header lines; more is "other". */
  readonly maxHeaders: number;
}

/** A request the fast path may serve itself. */
export interface SimpleRequest {
  readonly kind: 'simple';
  /** Offset just past the head's empty line (the next request starts there). */
  readonly end: number;
  /** Path before `?` (exactly as sent, e.g. "/announce"). */
  readonly path: string;
  /** Everything after the first `?`, '' when there is none. */
  readonly query: string;
  /** False when the client sent `Connection: close` (RFC 9112 §9.6). */
  readonly keepAlive: boolean;
}

/**
 * What `parseRequestHead` found: a simple request; "partial" (no complete head
 * yet, and what has arrived may still be one); or "other" (anything else: another
 * method or version, a body, Upgrade, Expect, an odd byte, a path not accepted).
 */
export type HeadVerdict = SimpleRequest | { readonly kind: 'partial' } | { readonly kind: 'other' };

const PARTIAL: HeadVerdict = Object.freeze({ kind: 'partial' });
const OTHER: HeadVerdict = Object.freeze({ kind: 'other' });

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const REQUEST_START = 'GET /';
const VERSION_TAIL = ' HTTP/1.1';

/** RFC 9110 §5.6.2 tchar: the bytes a field name is made of. */
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;

/** Lengths of the field names looked at below (host … transfer-encoding). */
const INTERESTING_LENGTHS = new Uint8Array(32);
for (const n of ['host', 'expect', 'upgrade', 'connection', 'content-length', 'transfer-encoding'])
  INTERESTING_LENGTHS[n.length] = 1;

/**
 * Checks `GET <target> HTTP/1.1` in text[0, eol). The target must be origin-form
 * (starts with "/") and visible ASCII only (node:http refuses bytes ≥ 0x80 with a
 * 400; those go to it). Returns the target or undefined.
 */
function requestTarget(text: string, eol: number): string | undefined {
  if (!text.startsWith(REQUEST_START) || eol < REQUEST_START.length + VERSION_TAIL.length) {
    return undefined;
  }
  const targetEnd = eol - VERSION_TAIL.length;
  if (!text.startsWith(VERSION_TAIL, targetEnd)) return undefined;
  for (let i = REQUEST_START.length; i < targetEnd; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return undefined;
  }
  return text.slice(REQUEST_START.length - 1, targetEnd);
}

/** Whether the `Connection` value lists only `keep-alive` / `close` tokens; sets `close`. */
function connectionTokens(value: string, out: { close: boolean }): boolean {
  for (const raw of value.split(',')) {
    const t = raw.trim().toLowerCase();
    if (t === 'close') out.close = true;
    else if (t !== 'keep-alive') return false;
  }
  return true;
}

/**
 * Parses the header lines text[pos, text.length) (each ending in CRLF; the final
 * empty line is not included). Returns whether they are simple, and keep-alive.
 */
function simpleHeaders(
  text: string,
  pos: number,
  maxHeaders: number,
): { keepAlive: boolean } | undefined {
  let hosts = 0;
  let count = 0;
  const conn = { close: false };
  while (pos < text.length) {
    const eol = text.indexOf('\r\n', pos);
    const colon = text.indexOf(':', pos);
    if (eol < 0 || colon <= pos || colon > eol) return undefined;
    if (++count > maxHeaders) return undefined;
    for (let i = pos; i < colon; i++) {
      const c = text.charCodeAt(i);
      if (c >= 128 || TCHAR[c] === 0) return undefined; // also leading SP/HTAB (obs-fold)
    }
    let vs = colon + 1;
    let ve = eol;
    for (let i = vs; i < ve; i++) {
      const c = text.charCodeAt(i);
      // Visible ASCII, SP and HTAB only: no CR/LF/NUL/DEL/other controls, no obs-text.
      if ((c < 0x20 && c !== 0x09) || c > 0x7e) return undefined;
    }
    while (vs < ve && (text.charCodeAt(vs) === 0x20 || text.charCodeAt(vs) === 0x09)) vs++;
    while (ve > vs && (text.charCodeAt(ve - 1) === 0x20 || text.charCodeAt(ve - 1) === 0x09)) ve--;
    const nameLength = colon - pos;
    // Only the fields that change how a request is read or answered matter here.
    if (nameLength < INTERESTING_LENGTHS.length && INTERESTING_LENGTHS[nameLength] === 1) {
      // Field names are case-insensitive (RFC 9110 §5.1).
      switch (text.slice(pos, colon).toLowerCase()) {
        case 'host':
          hosts++;
          break;
        case 'content-length':
          // A zero length is no body (node's route table accepts it too); anything else is.
          if (text.slice(vs, ve) !== '0') return undefined;
          break;
        case 'transfer-encoding':
        case 'upgrade':
        case 'expect':
          return undefined;
        case 'connection':
          if (!connectionTokens(text.slice(vs, ve), conn)) return undefined;
          break;
        default:
          break;
      }
    }
    pos = eol + 2;
  }
  // RFC 9112 §3.2: exactly one Host in an HTTP/1.1 request (node answers 400 without).
  if (hosts !== 1) return undefined;
  return { keepAlive: !conn.close };
}

/**
 * Looks for one request head in data[start…]. `accepts(path)` says which paths
 * the fast path serves; a request for any other is "other". A head that is still
 * incomplete is "partial" while what has arrived can still become a simple
 * request within `limits.maxHeadBytes`.
 */
export function parseRequestHead(
  data: Buffer,
  start: number,
  limits: HeadLimits,
  accepts: (path: string) => boolean,
): HeadVerdict {
  const available = data.length - start;
  const searchEnd = Math.min(data.length, start + limits.maxHeadBytes);
  const blank = data.indexOf(CRLFCRLF, start);
  if (blank < 0 || blank + CRLFCRLF.length > searchEnd) {
    if (available >= limits.maxHeadBytes) return OTHER;
    return partialVerdict(data, start, accepts);
  }
  // The head as latin1 text, up to and including the last header line's CRLF.
  const text = data.toString('latin1', start, blank + 2);
  const eol = text.indexOf('\r\n');
  const target = requestTarget(text, eol);
  if (target === undefined) return OTHER;
  const q = target.indexOf('?');
  const path = q < 0 ? target : target.slice(0, q);
  if (!accepts(path)) return OTHER;
  const headers = simpleHeaders(text, eol + 2, limits.maxHeaders);
  if (headers === undefined) return OTHER;
  return {
    kind: 'simple',
    end: blank + CRLFCRLF.length,
    path,
    query: q < 0 ? '' : target.slice(q + 1),
    keepAlive: headers.keepAlive,
  };
}

/**
 * An incomplete head: "other" as soon as it visibly cannot be simple (another
 * method, or a finished request line that is not a simple one), so that it goes
 * to node:http at once and is bounded by node's own timers from then on.
 */
function partialVerdict(
  data: Buffer,
  start: number,
  accepts: (path: string) => boolean,
): HeadVerdict {
  const n = Math.min(data.length - start, REQUEST_START.length);
  for (let i = 0; i < n; i++) {
    if (data[start + i] !== REQUEST_START.charCodeAt(i)) return OTHER;
  }
  const lf = data.indexOf(0x0a, start);
  if (lf < 0) return PARTIAL;
  const line = data.toString('latin1', start, lf + 1);
  const eol = line.length - 2;
  if (eol < 0 || line.charCodeAt(eol) !== 0x0d) return OTHER;
  const target = requestTarget(line, eol);
  if (target === undefined) return OTHER;
  const q = target.indexOf('?');
  return accepts(q < 0 ? target : target.slice(0, q)) ? PARTIAL : OTHER;
}
