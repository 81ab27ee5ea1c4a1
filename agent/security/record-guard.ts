import type { KeyObject } from 'node:crypto';
import type { InfoHashKey } from '../store/infohash.js';
import type { ProviderRecord } from '../store/record.js';
import { publicKeyObject, verifyRecord } from './record-signature.js';
import type { TrustedKeys } from './trusted-keys.js';

/** Why a record from another agent was refused (counted as `record.<reason>`). */
export type RecordRefusal =
  'unsigned' | 'bad_signature' | 'untrusted_key' | 'origin_key_mismatch' | 'future';

/** Every refusal reason, for counters. */
export const RECORD_REFUSALS: readonly RecordRefusal[] = [
  'unsigned',
  'bad_signature',
  'untrusted_key',
  'origin_key_mismatch',
  'future',
];

/** Origins of records learned over the legacy protocol start with this (legacy/handler.ts). */
export const LEGACY_ORIGIN_PREFIX = 'legacy:';

/** Settings of a RecordGuard. */
export interface RecordGuardOptions {
  /** Refuse unsigned records (on with a cluster key or trusted keys). */
  readonly requireSigned: boolean;
  /** When set, only these signer keys (and this agent's own) are accepted. */
  readonly trusted: TrustedKeys | undefined;
  /** This agent's own key (raw, latin1) and node id: its origin is pinned to its key for good. */
  readonly selfKey: string;
  readonly selfOrigin: string;
  /** A pinned origin → key binding is forgotten this long after its last record, ms (the TTL). */
  readonly pinTtlMs: number;
  /** A signed last_seen further than this in the future is refused (it cannot be clamped), ms. */
  readonly maxSkewMs: number;
  /** Origin pins kept; the least recently used is forgotten past it. */
  readonly maxPins: number;
}

/** Parsed public keys kept (parsing costs more than verifying). */
const MAX_KEY_CACHE = 4096;

/**
 * Checks provider records that arrive from other agents before they are
 * merged: the signature must be valid for the record's signer key; the key
 * must be trusted (when `--trusted-keys` is given); and an agent origin is
 * bound to the first key seen signing for it (trust on first use, kept while
 * its records live), so a member holding its own key cannot sign records in
 * another agent's name. Records relayed from the legacy protocol (origin
 * `legacy:<ip>`) are vouched for by their relay's key and are not pinned.
 */
export class RecordGuard {
  readonly refused: Record<RecordRefusal, number> = {
    unsigned: 0,
    bad_signature: 0,
    untrusted_key: 0,
    origin_key_mismatch: 0,
    future: 0,
  };
  /** Records accepted unsigned (no cluster key: compatibility with unsigned senders). */
  acceptedUnsigned = 0;
  private readonly pins = new Map<string, { key: string; lastUsed: number }>();
  private readonly keyCache = new Map<string, KeyObject | null>();

  constructor(private readonly options: RecordGuardOptions) {}

  /** 'ok' or the reason to refuse `r` (counted). */
  check(key: InfoHashKey, r: ProviderRecord, now: number): 'ok' | RecordRefusal {
    const verdict = this.verdict(key, r, now);
    if (verdict !== 'ok') this.refused[verdict]++;
    return verdict;
  }

  private verdict(key: InfoHashKey, r: ProviderRecord, now: number): 'ok' | RecordRefusal {
    const o = this.options;
    if (r.signer === undefined || r.sig === undefined) {
      if (o.requireSigned) return 'unsigned';
      this.acceptedUnsigned++;
      return 'ok';
    }
    const legacy = r.origin.startsWith(LEGACY_ORIGIN_PREFIX);
    if (o.trusted !== undefined && r.signer !== o.selfKey) {
      if (!o.trusted.has(r.signer)) return 'untrusted_key';
      const bound = o.trusted.get(r.signer);
      if (bound !== undefined && !legacy && bound !== r.origin) return 'origin_key_mismatch';
    }
    if (r.lastSeen > now + o.maxSkewMs) return 'future';
    const pk = this.keyObject(r.signer);
    if (pk === null || !verifyRecord(key, r, pk)) return 'bad_signature';
    if (legacy) return 'ok';
    if (r.origin === o.selfOrigin) return r.signer === o.selfKey ? 'ok' : 'origin_key_mismatch';
    const pin = this.pins.get(r.origin);
    if (pin !== undefined && pin.key !== r.signer && now - pin.lastUsed <= o.pinTtlMs) {
      return 'origin_key_mismatch';
    }
    // (Re)pin, most recently used last so the first entry is the one to forget.
    this.pins.delete(r.origin);
    if (this.pins.size >= o.maxPins) this.pins.delete(this.pins.keys().next().value as string);
    this.pins.set(r.origin, { key: r.signer, lastUsed: now });
    return 'ok';
  }

  private keyObject(raw: string): KeyObject | null {
    let k = this.keyCache.get(raw);
    if (k !== undefined) return k;
    try {
      k = publicKeyObject(Buffer.from(raw, 'latin1'));
    } catch {
      k = null;
    }
    if (this.keyCache.size >= MAX_KEY_CACHE) {
      this.keyCache.delete(this.keyCache.keys().next().value as string);
    }
    this.keyCache.set(raw, k);
    return k;
  }
}
