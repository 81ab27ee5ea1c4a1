import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import {
  ClusterClient,
  type ClusterMessage,
  type ExchangeRequest,
  type ExchangeResponse,
} from '../../generated/btoverlay/v1/cluster.js';
import type { ClusterAuthenticator, ClusterAuthRefusal } from '../security/cluster-auth.js';
import { UnauthenticatedError } from '../security/errors.js';
import { channelCredentials } from '../security/tls-credentials.js';
import type { TlsMaterial } from '../security/tls.js';
import { openBatch, sealBatch } from './cluster-seal.js';

/** Cluster key and TLS of outbound Exchange calls (docs/security.md). */
export interface ClusterPeerSecurity {
  /** Seals requests and checks the replies' MACs; undefined = unkeyed. */
  readonly auth: ClusterAuthenticator | undefined;
  /** Dial with TLS, presenting this agent's certificate; undefined = plaintext. */
  readonly tls: TlsMaterial | undefined;
  readonly clock: () => number;
  /** Called for every reply refused for its authentication. */
  readonly onRefusedReply: (reason: ClusterAuthRefusal, peer: string) => void;
  /**
   * Called for every inbound datagram refused for its authentication: traffic this
   * agent received, counted like a refused Exchange request (`cluster_auth.*`).
   */
  readonly onRefusedDatagram?: (reason: ClusterAuthRefusal, peer: string) => void;
  /** Per-source rate limit of inbound cluster datagrams (false: dropped, counted). */
  readonly allowDatagram?: (ip: string) => boolean;
}

/** Sees cluster messages as they are sent to (out) or received from (in) a peer. */
export type ClusterTrafficObserver = (
  direction: 'in' | 'out',
  messages: readonly ClusterMessage[],
) => void;

/** A gRPC channel to another agent's Cluster service. */
export class ClusterPeer {
  private readonly client: ClusterClient;

  constructor(
    readonly addr: string,
    maxMessageBytes: number,
    private readonly observe?: ClusterTrafficObserver,
    private readonly security?: ClusterPeerSecurity,
  ) {
    const tls = security?.tls === undefined ? undefined : channelCredentials(security.tls);
    this.client = new ClusterClient(addr, tls?.creds ?? credentials.createInsecure(), {
      ...tls?.options,
      'grpc.max_receive_message_length': maxMessageBytes,
      'grpc.max_send_message_length': maxMessageBytes,
      // A dead peer is retried by the next probe; do not queue behind it for long.
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 2000,
    });
  }

  /**
   * Sends messages; resolves with the peer's immediate replies. No gRPC deadline
   * (it would add a grpc-timeout header to every probe): the call is cancelled
   * after `timeoutMs` instead; SWIM's own timers judge the peer.
   */
  exchange(messages: ClusterMessage[], timeoutMs: number): Promise<ClusterMessage[]> {
    this.observe?.('out', messages);
    const auth = this.security?.auth;
    let request: ExchangeRequest = { messages, sealed: Buffer.alloc(0), auth: undefined };
    let nonce: Buffer | undefined;
    if (auth !== undefined) {
      const s = sealBatch(auth, 'request', messages, this.security!.clock());
      request = { messages: [], sealed: s.sealed, auth: s.auth };
      nonce = s.nonce;
    }
    return new Promise((resolve, reject) => {
      const call = this.client.exchange(
        request,
        new Metadata(),
        {},
        (err: ServiceError | null, res?: ExchangeResponse) => {
          clearTimeout(timer);
          if (err !== null) {
            reject(err);
            return;
          }
          let replies = res?.messages ?? [];
          if (auth !== undefined) {
            // A peer without the key (or with another) cannot answer for the cluster.
            let opened: ReturnType<typeof openBatch>;
            try {
              opened =
                res === undefined
                  ? { refused: 'missing' }
                  : openBatch(
                      auth,
                      'response',
                      res.sealed,
                      res.auth,
                      this.security!.clock(),
                      nonce,
                    );
            } catch (e) {
              reject(e as Error);
              return;
            }
            if ('refused' in opened) {
              this.security!.onRefusedReply(opened.refused, this.addr);
              reject(new UnauthenticatedError(opened.refused, `reply from ${this.addr} refused`));
              return;
            }
            replies = opened.messages;
          }
          this.observe?.('in', replies);
          resolve(replies);
        },
      );
      const timer = setTimeout(() => call.cancel(), timeoutMs);
    });
  }

  close(): void {
    this.client.close();
  }
}
