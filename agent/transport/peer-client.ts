import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { OverlayClient, type GossipResponse } from '../../generated/btoverlay/v1/overlay.js';
import type { ProviderSet } from '../../generated/btoverlay/v1/provider.js';
import { infoHashBytes, type InfoHashKey } from '../store/infohash.js';
import type { ProviderRecord } from '../store/record.js';
import { recordToWire } from './convert.js';

/** Records of one info hash, as gossip sends them. */
export interface RecordBatch {
  readonly key: InfoHashKey;
  readonly records: readonly ProviderRecord[];
}

/** A gRPC channel to another agent, for agent-to-agent calls. */
export class PeerClient {
  private readonly client: OverlayClient;

  constructor(
    readonly addr: string,
    maxMessageBytes: number,
  ) {
    this.client = new OverlayClient(addr, credentials.createInsecure(), {
      'grpc.max_receive_message_length': maxMessageBytes,
      'grpc.max_send_message_length': maxMessageBytes,
      // Fail fast and retry on the next round rather than queueing behind a dead peer.
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 5000,
    });
  }

  /** Pushes records to the peer; resolves with what it did with them. */
  gossip(
    sender: string,
    batches: readonly RecordBatch[],
    timeoutMs: number,
  ): Promise<GossipResponse> {
    const sets: ProviderSet[] = batches.map((b) => ({
      infoHash: infoHashBytes(b.key),
      providers: b.records.map(recordToWire),
    }));
    return new Promise((resolve, reject) => {
      this.client.gossip(
        { sender, sets },
        new Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err: ServiceError | null, res?: GossipResponse) =>
          err !== null ? reject(err) : resolve(res!),
      );
    });
  }

  close(): void {
    this.client.close();
  }
}
