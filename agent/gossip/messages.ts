import type { ProbeBody } from '../membership/swim.js';
import type { MemberUpdate } from '../membership/types.js';
import type { InfoHashKey } from '../store/infohash.js';
import type { ProviderRecord } from '../store/record.js';

/**
 * The cluster protocol as core types (no wire types): what the gossip node sends
 * and receives. The transport converts to/from `btoverlay.v1.ClusterMessage`;
 * the simulator passes these objects as they are.
 */

/** Records of one info hash. */
export interface RecordSet {
  readonly key: InfoHashKey;
  readonly records: readonly ProviderRecord[];
}

/** Anti-entropy, push-pull over digests (see cluster.proto `Sync`). */
export interface SyncBody {
  readonly type: 'sync';
  readonly phase: 1 | 2 | 3 | 4 | 5;
  readonly cutoff: number;
  readonly buckets: number;
  /** Phase 1 and 2: the sender's records root (16 hex digits). */
  readonly root: string;
  /** Phase 1: the sender's members root. */
  readonly membersRoot: string;
  /** Phase 2: the sender's bucket hashes (empty when roots agree). */
  readonly bucketHashes: readonly string[];
  /** Phase 3: buckets asked for. */
  readonly want: readonly number[];
  /** Phase 2/3: the sender's whole member list (empty when members agree). */
  readonly members: readonly MemberUpdate[];
  /** Phase 3/4: records of differing buckets. */
  readonly records: readonly RecordSet[];
  readonly more: boolean;
  /** 2 for the fingerprint exchange (cluster.proto `Sync`); 0 (or absent) for the first. */
  readonly version?: number;
  /** Version 2: phase 3 the initiator's record fingerprints, phase 4 those the responder lacks. */
  readonly fingerprints?: readonly string[];
}

/** What a cluster message is. */
export type Body = ProbeBody | { readonly type: 'push' } | SyncBody;

/** One cluster message with piggybacked gossip. */
export interface Envelope {
  readonly fromId: string;
  readonly fromAddr: string;
  readonly members: readonly MemberUpdate[];
  readonly records: readonly RecordSet[];
  readonly body: Body;
}

/** A message to send to "host:port". */
export interface Outbound {
  readonly to: string;
  readonly env: Envelope;
  /**
   * Probes (ping, ack, ping-req) may travel as datagrams; this one must take the
   * reliable transport (SWIM's fallback ping, like memberlist's TCP ping).
   */
  readonly reliable?: boolean;
}
