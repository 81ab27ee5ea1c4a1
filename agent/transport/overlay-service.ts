import type { ServerUnaryCall } from '@grpc/grpc-js';
import type {
  AnnounceRequest,
  AnnounceResponse,
  GossipRequest,
  GossipResponse,
  LookupRequest,
  LookupResponse,
  OverlayServer,
} from '../../generated/btoverlay/v1/overlay.js';
import { InvalidArgumentError, ResourceExhaustedError } from '../errors.js';
import type { Replica } from '../replica.js';
import { infoHashKey } from '../store/infohash.js';
import { leftNumber, parseAddr, peerIdString } from '../store/record.js';
import { recordFromWire, recordToWire } from './convert.js';
import { unary } from './unary.js';

/** Bounds the Overlay service applies to requests. */
export interface OverlayServiceLimits {
  /** Largest Lookup limit; a request's 0 means this. */
  readonly maxLookupLimit: number;
  /** Most records one Gossip request may carry. */
  readonly maxGossipBatch: number;
}

/** Security checks of the Overlay service (agent/security/); optional. */
export interface OverlayGuards {
  /**
   * Throws (PermissionDeniedError, ResourceExhaustedError) when this caller may not
   * announce `addr` for `key` (address check, rate limit, ports per host).
   */
  readonly announce?: (
    addr: string,
    call: ServerUnaryCall<unknown, unknown>,
    key: string,
    removed: boolean,
  ) => void;
  /** Throws (UnauthenticatedError) when Overlay.Gossip is not accepted (keyed cluster). */
  readonly gossip?: (call: ServerUnaryCall<unknown, unknown>) => void;
}

/** Observes gossip batches (for metrics); optional. */
export type GossipObserver = (sender: string, result: GossipResponse) => void;

/**
 * The Overlay gRPC service: validate, convert, call the Replica, convert back.
 * Errors are thrown as typed errors and mapped to status codes by `unary`.
 */
export function createOverlayService(
  replica: Replica,
  limits: OverlayServiceLimits,
  observe?: GossipObserver,
  guards: OverlayGuards = {},
): OverlayServer {
  return {
    announce: unary((req: AnnounceRequest, call): AnnounceResponse => {
      const key = infoHashKey(req.infoHash);
      if (req.provider === undefined) throw new InvalidArgumentError('provider', 'is required');
      const p = req.provider;
      parseAddr(p.addr);
      guards.announce?.(p.addr, call, key, req.removed);
      const stored = replica.announce(
        key,
        { addr: p.addr, peerId: peerIdString(p.peerId), left: leftNumber(p.left) },
        req.removed,
      );
      return { provider: recordToWire(stored) };
    }),

    lookup: unary((req: LookupRequest): LookupResponse => {
      const key = infoHashKey(req.infoHash);
      const limit =
        req.limit === 0 ? limits.maxLookupLimit : Math.min(req.limit, limits.maxLookupLimit);
      return { providers: replica.lookup(key, limit).map(recordToWire) };
    }),

    gossip: unary((req: GossipRequest, call): GossipResponse => {
      guards.gossip?.(call);
      let total = 0;
      for (const set of req.sets) total += set.providers.length;
      if (total > limits.maxGossipBatch) {
        throw new ResourceExhaustedError(
          'max_gossip_batch',
          `gossip batch carries ${total} records; at most ${limits.maxGossipBatch} are accepted per call`,
        );
      }
      const result: GossipResponse = { applied: 0, unchanged: 0, refused: 0 };
      for (const set of req.sets) {
        let key: string;
        try {
          key = infoHashKey(set.infoHash, 'sets.info_hash');
        } catch {
          result.refused += set.providers.length;
          continue;
        }
        for (const p of set.providers) {
          let outcome;
          try {
            outcome = replica.mergeRemote(key, recordFromWire(p, 'sets.providers'), req.sender);
          } catch (err) {
            if (!(err instanceof InvalidArgumentError)) throw err;
            result.refused++;
            continue;
          }
          if (outcome === 'applied') result.applied++;
          else if (outcome === 'unchanged') result.unchanged++;
          else result.refused++;
        }
      }
      observe?.(req.sender, result);
      return result;
    }),
  };
}
