import { ADMIN_REFUSALS } from './admin.js';
import { CLUSTER_AUTH_REFUSALS, type ClusterAuthRefusal } from './cluster-auth.js';

/**
 * Refusals of the security layer, per agent, by reason — read by
 * Control.Status (`security_refusals`), the stop log and metrics. Record
 * refusals live in the RecordGuard and are merged in by `snapshot`.
 */
export class SecurityCounters {
  /** Exchange requests refused (this agent was called). */
  readonly clusterAuth = zero(CLUSTER_AUTH_REFUSALS);
  /** Exchange responses refused (this agent called a peer that did not authenticate). */
  readonly clusterAuthReply = zero(CLUSTER_AUTH_REFUSALS);
  /** Overlay.Gossip calls refused because the cluster is keyed (it carries no MAC). */
  overlayGossipRefused = 0;
  /** Announces refused by the address check, by entry point. */
  readonly foreignAddr = { grpc: 0, legacy: 0, tracker: 0 };
  /** New providers refused past --max-providers-per-host, by entry point. */
  readonly hostLimit = { grpc: 0, tracker: 0 };
  /** Requests refused by per-source rate limits, by endpoint. */
  readonly rateLimited = {
    legacy: 0,
    tracker: 0,
    gossip: 0,
    exchange: 0,
    datagram: 0,
    announce: 0,
    status: 0,
  };
  /** Plaintext gRPC connections closed because TLS is required. */
  plaintextRefused = 0;
  /** Admin-method calls refused (admin-interceptor.ts), by reason. */
  readonly admin = zero(ADMIN_REFUSALS);
  /** Legacy writes from addresses not in --legacy-peers / --legacy-sources, by type. */
  readonly legacySource = { gossip: 0, announce: 0 };
  /** Membership updates dropped (a bad field, an incarnation over the cap), by reason. */
  readonly memberUpdate = { malformed: 0, incarnation: 0 };
  /** gRPC streams refused by the inbound budget (transport/grpc-inbound.ts), by reason. */
  readonly grpcInbound: Record<string, number> = {};
  /**
   * Sources expelled for too many strikes (security/abuse.ts), by the kind of the
   * last one, and `penalised`: connections refused at accept while expelled.
   */
  readonly abuse = { rapid_reset: 0, repeated_refusals: 0, rate_limited: 0, penalised: 0 };

  /** Counts one refusal of the inbound budget. */
  countInbound(reason: string): void {
    this.grpcInbound[reason] = (this.grpcInbound[reason] ?? 0) + 1;
  }

  /** Every non-zero counter as "group.reason" → count (plus `extra`, e.g. record refusals). */
  snapshot(extra: Record<string, number> = {}): Record<string, number> {
    const out: Record<string, number> = {};
    const add = (prefix: string, rec: Record<string, number>): void => {
      for (const [k, v] of Object.entries(rec)) if (v > 0) out[`${prefix}.${k}`] = v;
    };
    add('cluster_auth', this.clusterAuth);
    add('cluster_auth_reply', this.clusterAuthReply);
    add('foreign_addr', this.foreignAddr);
    add('host_limit', this.hostLimit);
    add('rate_limited', this.rateLimited);
    add('record', extra);
    add('admin', this.admin);
    add('legacy_source', this.legacySource);
    add('member_update', this.memberUpdate);
    add('grpc_inbound', this.grpcInbound);
    add('abuse', this.abuse);
    if (this.overlayGossipRefused > 0)
      out['overlay_gossip.unauthenticated'] = this.overlayGossipRefused;
    if (this.plaintextRefused > 0) out['tls.plaintext_refused'] = this.plaintextRefused;
    return out;
  }
}

function zero<K extends string>(keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
}

export type { ClusterAuthRefusal };
