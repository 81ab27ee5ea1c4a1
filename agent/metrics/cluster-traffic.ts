import { ClusterMessage } from '../../generated/btoverlay/v1/cluster.js';

/** in = received by this agent (requests and replies), out = sent by it. */
export type ClusterDirection = 'in' | 'out';

/** The kinds of cluster message (cluster.proto `ClusterMessage.body`). */
export const CLUSTER_KINDS = [
  'ping',
  'ack',
  'ping_req',
  'push',
  'sync',
  'nack',
  'unknown',
] as const;
export type ClusterKind = (typeof CLUSTER_KINDS)[number];

/** What one batch of cluster messages amounts to for one kind. */
export interface ClusterTraffic {
  readonly kind: ClusterKind;
  readonly messages: number;
  /** Protobuf-encoded size of the messages (no gRPC or HTTP/2 framing). */
  readonly bytes: number;
}

/** The kind of a cluster message, from which member of its `body` oneof is set. */
export function clusterKind(m: ClusterMessage): ClusterKind {
  if (m.ping !== undefined) return 'ping';
  if (m.ack !== undefined) return 'ack';
  if (m.pingReq !== undefined) return 'ping_req';
  if (m.push !== undefined) return 'push';
  if (m.sync !== undefined) return 'sync';
  if (m.nack !== undefined) return 'nack';
  return 'unknown';
}

/** Messages and encoded bytes of a batch, grouped by kind. */
export function clusterTraffic(messages: readonly ClusterMessage[]): ClusterTraffic[] {
  const by = new Map<ClusterKind, { messages: number; bytes: number }>();
  for (const m of messages) {
    const kind = clusterKind(m);
    // Encoding again costs a little CPU per message; cluster traffic is a few
    // messages per second per peer, and the size is what operators budget for.
    const bytes = ClusterMessage.encode(m).finish().byteLength;
    const t = by.get(kind);
    if (t === undefined) by.set(kind, { messages: 1, bytes });
    else {
      t.messages++;
      t.bytes += bytes;
    }
  }
  return [...by].map(([kind, t]) => ({ kind, ...t }));
}
