import {
  MemberState as WireState,
  type ClusterMessage,
  type MemberUpdate as WireUpdate,
  type Sync,
} from '../../generated/btoverlay/v1/cluster.js';
import type { ProviderSet } from '../../generated/btoverlay/v1/provider.js';
import { InvalidArgumentError } from '../errors.js';
import type { Body, Envelope, RecordSet } from '../gossip/messages.js';
import { INCARNATION_LIMIT } from '../membership/incarnation.js';
import type { MemberState, MemberUpdate } from '../membership/types.js';
import { infoHashBytes, infoHashKey } from '../store/infohash.js';
import { parseAddr } from '../store/record.js';
import { recordFromWire, recordToWire } from './convert.js';

/**
 * Conversion between `btoverlay.v1.ClusterMessage` and the gossip node's core
 * Envelope, with validation and bounds: a malformed message throws
 * InvalidArgumentError and is dropped by the service, never reaching the core.
 * A malformed member update is dropped on its own (reported to `onDrop`): the
 * rest of the message, its ping or ack included, still counts, so one bad
 * entry cannot make a healthy member miss its probe.
 */

/** Why a member update was dropped: a bad field, or an incarnation over INCARNATION_LIMIT. */
export type MemberUpdateDrop = 'malformed' | 'incarnation';

/** Bounds applied to incoming cluster messages. */
export interface ClusterLimits {
  /** Member updates per message (piggyback or a whole list in a sync). */
  readonly maxMembers: number;
  /** Records per message. */
  readonly maxRecords: number;
  /** Digest buckets. */
  readonly maxBuckets: number;
  /** Record fingerprints per sync message (version 2); default MAX_SYNC_FINGERPRINTS. */
  readonly maxFingerprints?: number;
}

/** Fingerprints accepted in one sync message by default: 64 Ki × 8 B = 512 KiB. */
export const MAX_SYNC_FINGERPRINTS = 65_536;

const TO_WIRE: Record<MemberState, WireState> = {
  alive: WireState.MEMBER_STATE_ALIVE,
  suspect: WireState.MEMBER_STATE_SUSPECT,
  dead: WireState.MEMBER_STATE_DEAD,
  left: WireState.MEMBER_STATE_LEFT,
};
const FROM_WIRE = new Map<WireState, MemberState>(
  Object.entries(TO_WIRE).map(([k, v]) => [v, k as MemberState]),
);

const NODE_ID = /^[\w.:@-]{1,128}$/;

/** A member state as the wire enum. */
export function memberStateToWire(s: MemberState): WireState {
  return TO_WIRE[s];
}

function hexToFixed(hex: string): bigint {
  return hex === '' ? 0n : BigInt(`0x${hex}`);
}

function fixedToHex(n: bigint): string {
  return n.toString(16).padStart(16, '0');
}

function updateToWire(u: MemberUpdate): WireUpdate {
  return {
    nodeId: u.id,
    addr: u.addr,
    state: TO_WIRE[u.state],
    incarnation: BigInt(u.incarnation),
    reporter: u.reporter,
  };
}

function updateFromWire(w: WireUpdate, field: string): MemberUpdate {
  const state = FROM_WIRE.get(w.state);
  if (state === undefined) throw new InvalidArgumentError(`${field}.state`, 'unknown state');
  if (!NODE_ID.test(w.nodeId)) throw new InvalidArgumentError(`${field}.node_id`, 'malformed');
  if (w.reporter !== '' && !NODE_ID.test(w.reporter)) {
    throw new InvalidArgumentError(`${field}.reporter`, 'malformed');
  }
  parseAddr(w.addr, `${field}.addr`);
  if (w.incarnation > BigInt(INCARNATION_LIMIT)) {
    throw new IncarnationTooLarge(`${field}.incarnation`, `over ${INCARNATION_LIMIT}`);
  }
  return {
    id: w.nodeId,
    addr: w.addr,
    state,
    incarnation: Number(w.incarnation),
    reporter: w.reporter,
  };
}

function setsToWire(sets: readonly RecordSet[]): ProviderSet[] {
  return sets.map((s) => ({
    infoHash: infoHashBytes(s.key),
    providers: s.records.map(recordToWire),
  }));
}

function setsFromWire(sets: ProviderSet[], field: string, limits: ClusterLimits): RecordSet[] {
  let n = 0;
  for (const s of sets) n += s.providers.length;
  if (n > limits.maxRecords)
    throw new InvalidArgumentError(field, `${n} records > ${limits.maxRecords}`);
  return sets.map((s) => ({
    key: infoHashKey(s.infoHash, `${field}.info_hash`),
    records: s.providers.map((p) => recordFromWire(p, `${field}.providers`)),
  }));
}

class IncarnationTooLarge extends InvalidArgumentError {}

function updatesFromWire(
  list: WireUpdate[],
  field: string,
  limits: ClusterLimits,
  onDrop: ((reason: MemberUpdateDrop, err: InvalidArgumentError) => void) | undefined,
): MemberUpdate[] {
  if (list.length > limits.maxMembers) {
    throw new InvalidArgumentError(field, `${list.length} members > ${limits.maxMembers}`);
  }
  const out: MemberUpdate[] = [];
  for (const w of list) {
    try {
      out.push(updateFromWire(w, field));
    } catch (err) {
      if (!(err instanceof InvalidArgumentError)) throw err;
      onDrop?.(err instanceof IncarnationTooLarge ? 'incarnation' : 'malformed', err);
    }
  }
  return out;
}

function syncToWire(b: Extract<Body, { type: 'sync' }>): Sync {
  return {
    phase: b.phase,
    cutoff: BigInt(b.cutoff),
    buckets: b.buckets,
    root: hexToFixed(b.root),
    membersRoot: hexToFixed(b.membersRoot),
    bucketHashes: b.bucketHashes.map(hexToFixed),
    want: [...b.want],
    members: b.members.map(updateToWire),
    records: setsToWire(b.records),
    more: b.more,
    version: b.version ?? 0,
    fingerprints: (b.fingerprints ?? []).map(hexToFixed),
  };
}

/** Converts a core envelope to the wire message. */
export function envelopeToWire(e: Envelope): ClusterMessage {
  const m: ClusterMessage = {
    fromId: e.fromId,
    fromAddr: e.fromAddr,
    members: e.members.map(updateToWire),
    records: setsToWire(e.records),
  };
  const b = e.body;
  switch (b.type) {
    case 'ping':
      m.ping = { seq: b.seq, target: b.target };
      break;
    case 'ack':
      m.ack = { seq: b.seq, target: b.target };
      break;
    case 'ping-req':
      m.pingReq = {
        seq: b.seq,
        target: b.target,
        targetAddr: b.targetAddr,
        nack: b.nack === true,
      };
      break;
    case 'nack':
      m.nack = { seq: b.seq, target: b.target };
      break;
    case 'push':
      m.push = {};
      break;
    case 'sync':
      m.sync = syncToWire(b);
      break;
  }
  return m;
}

/**
 * Validates a wire message and converts it to a core envelope. Bad member
 * updates are left out and reported to `onDrop`; anything else bad throws.
 */
export function envelopeFromWire(
  m: ClusterMessage,
  limits: ClusterLimits,
  onDrop?: (reason: MemberUpdateDrop, err: InvalidArgumentError) => void,
): Envelope {
  if (!NODE_ID.test(m.fromId)) throw new InvalidArgumentError('from_id', 'malformed');
  parseAddr(m.fromAddr, 'from_addr');
  const members = updatesFromWire(m.members, 'members', limits, onDrop);
  const records = setsFromWire(m.records, 'records', limits);
  let body: Body;
  if (m.ping !== undefined) body = { type: 'ping', seq: m.ping.seq, target: m.ping.target };
  else if (m.ack !== undefined) body = { type: 'ack', seq: m.ack.seq, target: m.ack.target };
  else if (m.nack !== undefined) body = { type: 'nack', seq: m.nack.seq, target: m.nack.target };
  else if (m.pingReq !== undefined) {
    parseAddr(m.pingReq.targetAddr, 'ping_req.target_addr');
    body = {
      type: 'ping-req',
      seq: m.pingReq.seq,
      target: m.pingReq.target,
      targetAddr: m.pingReq.targetAddr,
      nack: m.pingReq.nack,
    };
  } else if (m.sync !== undefined) {
    const s = m.sync;
    // Phase 5 exists only in version 2 (the fingerprint exchange).
    const maxPhase = s.version >= 2 ? 5 : 4;
    if (s.phase < 1 || s.phase > maxPhase) {
      throw new InvalidArgumentError('sync.phase', `must be 1-${maxPhase}`);
    }
    if (s.fingerprints.length > (limits.maxFingerprints ?? MAX_SYNC_FINGERPRINTS)) {
      throw new InvalidArgumentError('sync.fingerprints', 'too many');
    }
    if (
      s.buckets < 1 ||
      s.buckets > limits.maxBuckets ||
      s.bucketHashes.length > limits.maxBuckets
    ) {
      throw new InvalidArgumentError('sync.buckets', 'out of range');
    }
    if (s.want.length > limits.maxBuckets) throw new InvalidArgumentError('sync.want', 'too many');
    if (s.cutoff < 0n || s.cutoff > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new InvalidArgumentError('sync.cutoff', 'out of range');
    }
    body = {
      type: 'sync',
      phase: s.phase as 1 | 2 | 3 | 4 | 5,
      cutoff: Number(s.cutoff),
      buckets: s.buckets,
      root: fixedToHex(s.root),
      membersRoot: fixedToHex(s.membersRoot),
      bucketHashes: s.bucketHashes.map(fixedToHex),
      want: s.want,
      members: updatesFromWire(s.members, 'sync.members', limits, onDrop),
      records: setsFromWire(s.records, 'sync.records', limits),
      more: s.more,
      version: s.version,
      fingerprints: s.fingerprints.map(fixedToHex),
    };
  } else body = { type: 'push' };
  return { fromId: m.fromId, fromAddr: m.fromAddr, members, records, body };
}

/** 16 hex digits → fixed64, for the Control digest. */
export { hexToFixed, fixedToHex };
