import { ResourceExhaustedError } from './errors.js';
import type { RecordGuard, RecordRefusal } from './security/record-guard.js';
import type { RecordSigner } from './security/record-signature.js';
import type { InfoHashKey } from './store/infohash.js';
import { compareRecords, type ProviderRecord } from './store/record.js';
import type { MergeOutcome, Store } from './store/store.js';

/** Record signing and verification (agent/security/); absent in the simulator and unit tests. */
export interface ReplicaSecurity {
  /** Signs the records this agent originates (announces, withdrawals, legacy relays). */
  readonly signer: RecordSigner;
  /** Verifies records from other agents before they are merged. */
  readonly guard: RecordGuard;
}

/** What merging a record from another agent did: the Store's outcome or a security refusal. */
export type RemoteOutcome = MergeOutcome | RecordRefusal;

/** A provider as announced by a client: the agent adds time and origin. */
export interface AnnouncedProvider {
  readonly addr: string;
  readonly peerId: string;
  readonly left: number;
}

/** Called for every record that changed the Store, with the node id it came from ('' = local). */
export type ChangeListener = (key: InfoHashKey, record: ProviderRecord, source: string) => void;

/**
 * This agent's replica of the overlay: the Store plus the agent's identity and
 * clock, and a feed of changes for dissemination. Every entry point (gRPC, legacy
 * JSON, tracker, torrents) goes through it, so all of them see one state.
 */
export class Replica {
  private readonly listeners: ChangeListener[] = [];
  /**
   * Merge outcomes counted by "source outcome", source being local (announced
   * here), legacy (a legacy node) or cluster (another agent); read by metrics.
   */
  readonly outcomes = new Map<string, number>();

  constructor(
    readonly store: Store,
    readonly nodeId: string,
    private readonly clock: () => number = Date.now,
    private readonly security?: ReplicaSecurity,
  ) {}

  /** This agent's record-signing public key (raw, latin1); undefined without security. */
  get publicKey(): string | undefined {
    return this.security?.signer.publicKey;
  }

  now(): number {
    return this.clock();
  }

  /** Subscribes to changes. */
  onChange(listener: ChangeListener): void {
    this.listeners.push(listener);
  }

  /**
   * Registers (or with `removed`, withdraws) a provider announced to this agent,
   * stamped with this agent's time and node id. Returns the stored record.
   */
  announce(key: InfoHashKey, provider: AnnouncedProvider, removed = false): ProviderRecord {
    let record = this.stamp(provider, removed);
    if (this.security !== undefined) record = this.security.signer.sign(key, record);
    return this.storeOwn(key, record);
  }

  /**
   * As `announce`, but signs on the thread pool (RecordSigner.signAsync) so that a
   * busy endpoint's event loop does not do the Ed25519 work. The record is stamped
   * with the time of the call; the promise settles once it is stored (or refused).
   */
  announceAsync(
    key: InfoHashKey,
    provider: AnnouncedProvider,
    removed = false,
  ): Promise<ProviderRecord> {
    const record = this.stamp(provider, removed);
    if (this.security === undefined) {
      try {
        return Promise.resolve(this.storeOwn(key, record));
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
    }
    // One promise step per announce on a busy tracker: no async frame around it.
    return this.security.signer.signAsync(key, record).then((signed) => this.storeOwn(key, signed));
  }

  private stamp(provider: AnnouncedProvider, removed: boolean): ProviderRecord {
    return {
      addr: provider.addr,
      peerId: provider.peerId,
      left: provider.left,
      lastSeen: this.clock(),
      origin: this.nodeId,
      removed,
    };
  }

  private storeOwn(key: InfoHashKey, record: ProviderRecord): ProviderRecord {
    const outcome = this.store.merge(key, record, this.clock());
    this.count('', outcome);
    if (outcome === 'info_hash_limit') {
      throw new ResourceExhaustedError(
        'max_info_hashes',
        `this agent holds its maximum of ${this.store.options.maxInfoHashes} info hashes`,
      );
    }
    if (outcome === 'record_limit') {
      throw new ResourceExhaustedError(
        'max_records',
        `this agent holds its maximum of ${this.store.options.maxRecords} records (--max-records)`,
      );
    }
    // Applied: the listeners' copy is what is stored (one look-up for both).
    if (outcome === 'applied') return this.notify(key, record.addr, '') ?? record;
    return this.store.get(key, record.addr) ?? record;
  }

  /**
   * Merges a record that arrived from another agent. With security on, its
   * signature is verified first — unless the Store already holds it or something
   * newer, which needs no cryptography to turn down.
   */
  mergeRemote(key: InfoHashKey, record: ProviderRecord, source: string): RemoteOutcome {
    if (this.security !== undefined) {
      const held = this.store.get(key, record.addr);
      const now = this.clock();
      if (held !== undefined && this.store.isLive(held, now) && compareRecords(record, held) <= 0) {
        return this.apply(key, record, source);
      }
      const verdict = this.security.guard.check(key, record, now);
      if (verdict !== 'ok') {
        this.count(source, verdict);
        return verdict;
      }
    }
    return this.apply(key, record, source);
  }

  /**
   * Merges a record learned over the unauthenticated legacy protocol (origin
   * `legacy:<ip>`). With security on, this agent signs it as its relay, so other
   * agents know which member vouched for it (docs/security.md).
   */
  mergeLegacy(key: InfoHashKey, record: ProviderRecord, source: string): MergeOutcome {
    if (this.security === undefined) return this.apply(key, record, source);
    const now = this.clock();
    // Clamp as the Store would (a signature must cover what is stored), then sign.
    const lastSeen = record.lastSeen > now + this.store.options.maxSkewMs ? now : record.lastSeen;
    const signed = this.security.signer.sign(key, {
      addr: record.addr,
      peerId: record.peerId,
      left: record.left,
      lastSeen,
      origin: record.origin,
      removed: record.removed,
    });
    return this.apply(key, signed, source);
  }

  /** Live providers, newest first. */
  lookup(key: InfoHashKey, limit: number): ProviderRecord[] {
    return this.store.lookup(key, limit, this.clock());
  }

  /** Frees expired records. */
  sweep(): number {
    return this.store.sweep(this.clock());
  }

  private apply(key: InfoHashKey, record: ProviderRecord, source: string): MergeOutcome {
    const now = this.clock();
    const outcome = this.store.merge(key, record, now);
    this.count(source, outcome);
    if (outcome === 'applied') this.notify(key, record.addr, source);
    return outcome;
  }

  /** Tells the listeners about a record just applied; returns it as stored. */
  private notify(key: InfoHashKey, addr: string, source: string): ProviderRecord | undefined {
    // The Store may have clamped last_seen; spread what it holds, not what arrived.
    const stored = this.store.get(key, addr);
    if (stored !== undefined) for (const l of this.listeners) l(key, stored, source);
    return stored;
  }

  private count(source: string, outcome: RemoteOutcome): void {
    const counted = `${source === '' ? 'local' : source.startsWith('legacy:') ? 'legacy' : 'cluster'} ${outcome}`;
    this.outcomes.set(counted, (this.outcomes.get(counted) ?? 0) + 1);
  }
}
