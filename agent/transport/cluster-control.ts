import type {
  DigestRequest,
  DigestResponse,
  MembersResponse,
} from '../../generated/btoverlay/v1/control.js';
import { InvalidArgumentError } from '../errors.js';
import type { Membership } from '../membership/swim.js';
import type { Replica } from '../replica.js';
import { DEFAULT_DIGEST_BUCKETS, digestCutoff, validBucketCount } from '../store/digest.js';
import { hexToFixed, memberStateToWire } from './cluster-convert.js';

/** Control.Members: the agent's member list, itself included, sorted by node id. */
export function membersReply(membership: Membership | undefined, self: string): MembersResponse {
  if (membership === undefined) return { members: [] };
  const members = [...membership.all()]
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((m) => ({
      nodeId: m.id,
      addr: m.addr,
      state: memberStateToWire(m.state),
      incarnation: BigInt(m.incarnation),
      lastHeard: BigInt(m.lastHeard),
      stateSince: BigInt(m.stateSince),
      isSelf: m.id === self,
    }));
  return { members };
}

/** Margin and alignment of Control.Digest cutoffs (as anti-entropy's defaults). */
const CUTOFF_MARGIN_MS = 2000;
const CUTOFF_ALIGN_MS = 1000;

/**
 * The cutoff the server hashes at, whatever the caller asked (issue 12): the
 * request's value is honoured only inside [now, now + margin + align] and then
 * rounded up to a whole second, so every caller shares a few cached digests and
 * none can make the agent hash a cutoff of its choosing (far in the past: every
 * unswept record; far ahead: each call a new digest). 0 or anything outside is
 * replaced by now + 2 s, aligned. The response says which cutoff was used.
 */
export function serverCutoff(now: number, requested: number): number {
  const own = digestCutoff(now, CUTOFF_MARGIN_MS, CUTOFF_ALIGN_MS);
  if (requested < now || requested > now + CUTOFF_MARGIN_MS + CUTOFF_ALIGN_MS) return own;
  return Math.ceil(requested / CUTOFF_ALIGN_MS) * CUTOFF_ALIGN_MS;
}

/** Control.Digest: a digest of the live records at a cutoff the server picks (see serverCutoff). */
export function digestReply(replica: Replica, req: DigestRequest): DigestResponse {
  const buckets = req.buckets === 0 ? DEFAULT_DIGEST_BUCKETS : req.buckets;
  if (!validBucketCount(buckets)) {
    throw new InvalidArgumentError('buckets', 'must be a power of two between 1 and 4096');
  }
  if (req.cutoff < 0n || req.cutoff > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new InvalidArgumentError('cutoff', 'must be Unix milliseconds');
  }
  const cutoff = serverCutoff(replica.now(), Number(req.cutoff));
  const d = replica.store.digest(cutoff, buckets);
  return {
    nodeId: replica.nodeId,
    cutoff: BigInt(cutoff),
    root: hexToFixed(d.root),
    bucketHashes: d.bucketHashes.map(hexToFixed),
    bucketCounts: [...d.bucketCounts],
    records: BigInt(d.records),
  };
}
