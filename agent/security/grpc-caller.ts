import type { ServerUnaryCall } from '@grpc/grpc-js';

type AuthContext = ReturnType<ServerUnaryCall<unknown, unknown>['getAuthContext']>;

/**
 * The caller's IP address as the agent's socket sees it (not anything the
 * caller claims). grpc-js reports the peer as `${remoteAddress}:${remotePort}`
 * (IPv6 unbracketed), so the address is everything before the last colon.
 */
export function callerIp(call: { getPeer(): string }): string | undefined {
  const peer = call.getPeer();
  const colon = peer.lastIndexOf(':');
  if (colon <= 0 || !/^\d+$/.test(peer.slice(colon + 1))) return undefined;
  return peer.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
}

/**
 * Whether the caller presented a client certificate the agent's CA verified.
 * grpc-js reports a peer certificate only for an authorized TLS socket.
 */
export function callerHasClientCert(call: { getAuthContext(): AuthContext }): boolean {
  return call.getAuthContext().sslPeerCertificate !== undefined;
}
