/**
 * Protocol detection from the first bytes of a connection (pure). One TCP port
 * carries gRPC (HTTP/2), the legacy JSON overlay protocol and HTTP/1.1.
 */

/** What a connection speaks. */
export type SniffedProtocol = 'grpc' | 'legacy' | 'http' | 'tls' | 'unknown';

/** RFC 9113 §3.4: every HTTP/2 connection starts with this preface. */
export const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/**
 * Bytes read before a connection is handed over: the whole HTTP/2 preface, so a
 * gRPC connection that stalls inside it is closed by the port's first-bytes
 * deadline instead of holding an HTTP/2 session (the other protocols are told
 * apart within their first 8 bytes, the longest HTTP/1.1 method + space).
 */
export const SNIFF_BYTES = HTTP2_PREFACE.length;
/** Bytes that tell HTTP/1.1 and the other protocols apart. */
const METHOD_BYTES = 8;

/** RFC 9110 §9: the methods an HTTP/1.1 request line may start with. */
const HTTP1_METHOD = /^(GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH|TRACE|CONNECT) /;
/** RFC 8446 §5.1: a TLS record of type handshake. */
const TLS_HANDSHAKE = 0x16;

/**
 * Classifies a connection's first bytes, or returns 'need-more' while they do not
 * yet decide. `final` says no more bytes will come (timeout or end).
 */
export function sniff(prefix: Buffer, final = false): SniffedProtocol | 'need-more' {
  if (prefix.length === 0) return final ? 'unknown' : 'need-more';
  const first = prefix[0];
  // The legacy protocol is JSON, which may start with whitespace (Go's decoder skips it).
  if (first === 0x7b /* { */) return 'legacy';
  if (first === 0x20 || first === 0x0a || first === 0x0d || first === 0x09) {
    const trimmed = prefix.toString('latin1').trimStart();
    if (trimmed.length === 0) return final ? 'unknown' : 'need-more';
    return trimmed.startsWith('{') ? 'legacy' : 'unknown';
  }
  if (first === TLS_HANDSHAKE) return 'tls';
  const n = Math.min(prefix.length, HTTP2_PREFACE.length);
  if (n >= 4 && prefix.subarray(0, n).equals(HTTP2_PREFACE.subarray(0, n))) {
    // Only the complete preface (RFC 9113 §3.4) makes a gRPC connection.
    if (n === HTTP2_PREFACE.length) return 'grpc';
    return final ? 'unknown' : 'need-more';
  }
  const text = prefix.subarray(0, METHOD_BYTES).toString('latin1');
  if (HTTP1_METHOD.test(text)) return 'http';
  if (prefix.length >= METHOD_BYTES || final) return 'unknown';
  // Still a possible prefix of "PRI " or of a method?
  const possible = [
    'PRI ',
    'GET ',
    'HEAD ',
    'POST ',
    'PUT ',
    'DELETE ',
    'OPTIONS ',
    'PATCH ',
    'TRACE ',
    'CONNECT ',
  ];
  return possible.some((p) => p.startsWith(text)) ? 'need-more' : 'unknown';
}
