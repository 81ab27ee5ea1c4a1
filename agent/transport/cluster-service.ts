import type {
  ClusterServer,
  ExchangeRequest,
  ExchangeResponse,
} from '../../generated/btoverlay/v1/cluster.js';
import type { ClusterMessage } from '../../generated/btoverlay/v1/cluster.js';
import { unary } from './unary.js';

/** Something that handles a batch of cluster messages and returns the replies to the caller. */
export interface ClusterHandler {
  handle(messages: ClusterMessage[]): ClusterMessage[];
}

/** The Cluster gRPC service: hands batches to the gossip driver. */
export function createClusterService(handler: () => ClusterHandler | undefined): ClusterServer {
  return {
    exchange: unary((req: ExchangeRequest): ExchangeResponse => {
      const h = handler();
      return {
        messages: h === undefined ? [] : h.handle(req.messages),
        sealed: Buffer.alloc(0),
        auth: undefined,
      };
    }),
  };
}
