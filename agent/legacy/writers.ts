import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { canonicalIp } from '../security/announce-addr.js';
import type { SourceSet } from '../security/sources.js';

/** Resolves a host name to its addresses (node:dns by default; injected in tests). */
export type HostResolver = (host: string) => Promise<string[]>;

/** Options of LegacyWriters. */
export interface LegacyWritersOptions {
  /** `--legacy-peers` ("host:port"): their addresses may write. */
  readonly peers: readonly string[];
  /** `--legacy-sources`: CIDR blocks that may write. */
  readonly sources: SourceSet;
  /** Peer names are re-resolved this often, ms (a Go node's address may change). */
  readonly resolveIntervalMs: number;
  readonly resolve?: HostResolver;
}

/**
 * Peers' names are re-resolved every 30 s: a DNS name of a legacy node (a
 * container, a VM) may move, and the legacy protocol carries no identity to
 * follow it by.
 */
export const DEFAULT_LEGACY_RESOLVE_MS = 30_000;
/** Addresses kept per peer name: bounds what one DNS answer can add. */
const MAX_ADDRS_PER_PEER = 16;

const defaultResolve: HostResolver = async (host) =>
  (await lookup(host, { all: true })).map((a) => a.address);

function hostOf(peer: string): string {
  const host = peer.slice(0, peer.lastIndexOf(':'));
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/**
 * Who may write over the legacy protocol (gossip, announce): the resolved
 * addresses of --legacy-peers and the blocks of --legacy-sources. Legacy
 * messages carry no authentication, so the source address is all there is;
 * everyone else may still look up.
 */
export class LegacyWriters {
  private peerAddrs: ReadonlySet<string> = new Set();
  /** Each peer name's last resolved addresses (kept when a later lookup fails). */
  private readonly byName = new Map<string, string[]>();
  private timer: NodeJS.Timeout | undefined;
  private readonly resolve: HostResolver;

  constructor(private readonly options: LegacyWritersOptions) {
    this.resolve = options.resolve ?? defaultResolve;
    // Literal addresses are known at once; names once resolved.
    this.peerAddrs = new Set(
      options.peers
        .map(hostOf)
        .filter((h) => isIP(h) !== 0)
        .map(canonicalIp),
    );
  }

  /** Whether a legacy write from `ip` is applied. */
  allows(ip: string | undefined): boolean {
    if (ip === undefined) return false;
    return this.peerAddrs.has(canonicalIp(ip)) || this.options.sources.has(ip);
  }

  /** Resolves the peers now and then every resolveIntervalMs. */
  async start(): Promise<void> {
    await this.refresh();
    if (this.options.peers.some((p) => isIP(hostOf(p)) === 0)) {
      this.timer = setInterval(() => void this.refresh(), this.options.resolveIntervalMs);
      this.timer.unref();
    }
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Re-resolves every peer name. A name that fails to resolve keeps its last
   * addresses (a DNS outage must not cut a known node off).
   */
  async refresh(): Promise<void> {
    const next = new Set<string>();
    for (const peer of this.options.peers) {
      const host = hostOf(peer);
      if (isIP(host) !== 0) {
        next.add(canonicalIp(host));
        continue;
      }
      try {
        const addrs = (await this.resolve(host)).slice(0, MAX_ADDRS_PER_PEER).map(canonicalIp);
        this.byName.set(host, addrs);
      } catch {
        // Keeps the name's last answer.
      }
      for (const a of this.byName.get(host) ?? []) next.add(a);
    }
    this.peerAddrs = next;
  }
}
