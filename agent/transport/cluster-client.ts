import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import {
  ClusterClient,
  type ClusterMessage,
  type ExchangeResponse,
} from '../../generated/btoverlay/v1/cluster.js';

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
  ) {
    this.client = new ClusterClient(addr, credentials.createInsecure(), {
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
    return new Promise((resolve, reject) => {
      const call = this.client.exchange(
        { messages, sealed: Buffer.alloc(0), auth: undefined },
        new Metadata(),
        {},
        (err: ServiceError | null, res?: ExchangeResponse) => {
          clearTimeout(timer);
          if (err !== null) reject(err);
          else {
            const replies = res?.messages ?? [];
            this.observe?.('in', replies);
            resolve(replies);
          }
        },
      );
      const timer = setTimeout(() => call.cancel(), timeoutMs);
    });
  }

  close(): void {
    this.client.close();
  }
}
