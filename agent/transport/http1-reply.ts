/**
 * Serialises the fast path's replies (transport/http-fast.ts) byte for byte as
 * node:http's ServerResponse writes them for `writeHead(status, fields)` +
 * `end(body)`: the status line, the fields in the order given, then `Date`,
 * `Connection` and `Keep-Alive` (RFC 9112 §9.6; node's _storeHeader order), so a
 * client cannot tell which path answered. Pure: the date is a parameter.
 */
import { STATUS_CODES } from 'node:http';

/** A reply from a fast route. Every body is sent with its Content-Length. */
export interface FastReply {
  readonly status: number;
  /** Header fields in order, Content-Length included where node's route sets it. */
  readonly fields: readonly (readonly [name: string, value: string])[];
  readonly body: Buffer;
  /** Close the connection after this reply (as node does for `Connection: close`). */
  readonly close?: boolean;
}

/** RFC 9110 §5.6.7 IMF-fixdate of `nowMs`, as node's `Date` field (cached per second). */
export class HttpDate {
  private second = -1;
  private text = '';

  /** The Date value for the second holding `nowMs`. */
  at(nowMs: number): string {
    const s = Math.floor(nowMs / 1000);
    if (s !== this.second) {
      this.second = s;
      this.text = new Date(s * 1000).toUTCString();
    }
    return this.text;
  }
}

/**
 * The reply's bytes. `keepAlive` false (the request asked to close, or the reply
 * closes) writes `Connection: close`; true writes `Connection: keep-alive` and
 * `Keep-Alive: timeout=<keepAliveSec>`.
 */
export function serializeReply(
  reply: FastReply,
  keepAlive: boolean,
  date: string,
  keepAliveSec: number,
): Buffer {
  let head = `HTTP/1.1 ${reply.status} ${STATUS_CODES[reply.status] ?? 'unknown'}\r\n`;
  for (const [name, value] of reply.fields) head += `${name}: ${value}\r\n`;
  head += `Date: ${date}\r\n`;
  head +=
    keepAlive && reply.close !== true
      ? `Connection: keep-alive\r\nKeep-Alive: timeout=${keepAliveSec}\r\n\r\n`
      : 'Connection: close\r\n\r\n';
  const out = Buffer.allocUnsafe(head.length + reply.body.length);
  const n = out.write(head, 0, 'latin1');
  reply.body.copy(out, n);
  return out;
}
