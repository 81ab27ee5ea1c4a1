import { ResourceExhaustedError } from './errors.js';
import type { InfoHashKey } from './store/infohash.js';
import type { ProviderRecord } from './store/record.js';
import type { MergeOutcome, Store } from './store/store.js';

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
  ) {}

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
    const record: ProviderRecord = {
      addr: provider.addr,
      peerId: provider.peerId,
      left: provider.left,
      lastSeen: this.clock(),
      origin: this.nodeId,
      removed,
    };
    const outcome = this.apply(key, record, '');
    if (outcome === 'info_hash_limit') {
      throw new ResourceExhaustedError(
        'max_info_hashes',
        `this agent holds its maximum of ${this.store.options.maxInfoHashes} info hashes`,
      );
    }
    return this.store.get(key, record.addr) ?? record;
  }

  /** Merges a record that arrived from another agent or a legacy node. */
  mergeRemote(key: InfoHashKey, record: ProviderRecord, source: string): MergeOutcome {
    return this.apply(key, record, source);
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
    const counted = `${source === '' ? 'local' : source.startsWith('legacy:') ? 'legacy' : 'cluster'} ${outcome}`;
    this.outcomes.set(counted, (this.outcomes.get(counted) ?? 0) + 1);
    if (outcome === 'applied') {
      // The Store may have clamped last_seen; spread what it holds, not what arrived.
      const stored = this.store.get(key, record.addr);
      if (stored !== undefined) for (const l of this.listeners) l(key, stored, source);
    }
    return outcome;
  }
}
