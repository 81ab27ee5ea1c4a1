/**
 * The peer-wire listener of a session that is not behind the agent's shared listener
 * (`btagent download|seed`): accepted sockets go to `accept`, later errors to `onError`.
 */
import net from 'node:net';
import type { PeerAddr } from './peer-source.js';

/** Listens on `a` (port 0 = any free port); resolves with the server and its bound port. */
export function listenForPeers(
  a: PeerAddr,
  accept: (socket: net.Socket) => void,
  onError: (e: Error) => void,
): Promise<{ server: net.Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = net.createServer({ noDelay: true }, accept);
    server.once('error', reject);
    server.listen(a.port, a.host, () => {
      server.off('error', reject);
      server.on('error', onError);
      const ad = server.address();
      resolve({ server, port: typeof ad === 'object' && ad ? ad.port : a.port });
    });
  });
}
