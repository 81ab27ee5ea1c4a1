/**
 * Outgoing peer connections: the candidate bookkeeping shared by the download session and
 * the magnet metadata phase (who may be dialled, and the back-off after a failure).
 */
import type { Socket } from 'node:net';
import type { PeerAddr } from './peer-source.js';

/** A peer address we may dial. */
export interface Candidate {
  addr: PeerAddr;
  failures: number;
  /** Not before this time (ms) after a failure: exponential back-off. */
  nextTryAt: number;
  /** Being dialled, or connected. */
  connected: boolean;
}

export interface DialOptions {
  /** The connect attempt is given up after this. */
  connectTimeoutMs: number;
  /** Back-off after the n-th failure: base · 2^min(n, 6). */
  reconnectBaseMs: number;
  now: () => number;
  /** Called once when the attempt ends either way (the caller's count of dials in flight). */
  settled: () => void;
  /** Called once connected, after the connect timeout is cleared. */
  connected: () => void;
}

/**
 * Watches `socket`, just created by `net.connect` to `c.addr`: a failure or timeout marks
 * the candidate for a later retry and destroys the socket; a connection calls `connected`.
 */
export function watchDial(socket: Socket, c: Candidate, o: DialOptions): void {
  let settled = false;
  const fail = (): void => {
    if (settled) return;
    settled = true;
    o.settled();
    c.connected = false;
    c.failures++;
    c.nextTryAt = o.now() + o.reconnectBaseMs * 2 ** Math.min(c.failures, 6);
    socket.destroy();
  };
  socket.setTimeout(o.connectTimeoutMs, fail);
  socket.once('error', fail);
  socket.once('connect', () => {
    if (settled) return;
    settled = true;
    o.settled();
    socket.setTimeout(0);
    socket.removeListener('error', fail);
    o.connected();
  });
}
