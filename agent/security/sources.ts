import { BlockList, isIP } from 'node:net';
import { canonicalIp } from './announce-addr.js';

/** Bound on remembered answers (distinct caller addresses). */
const MEMO_MAX = 4096;

/**
 * `--trusted-sources CIDR,...`: caller addresses exempt from the announce
 * address check and the per-source rate limits (default: the canonical
 * loopback networks 127.0.0.0/8 and ::1 (RFC 1122 §3.2.1.3, RFC 4291 §2.5.3),
 * i.e. processes on the agent's own host).
 * node:net's BlockList is a pure CIDR matcher; nothing here does I/O.
 */
export class SourceSet {
  private readonly list = new BlockList();
  private empty = true;
  /**
   * Answers by the caller's textual address: BlockList.check builds a SocketAddress
   * per call, which cost ~3 % of a tracker announce under load. Bounded: cleared
   * when full (the set itself never changes after parse, so entries never go stale).
   */
  private readonly memo = new Map<string, boolean>();

  /** Parses "CIDR,CIDR,..." (a bare IP is a /32 or /128). Throws naming the bad entry. */
  static parse(text: string): SourceSet {
    const set = new SourceSet();
    for (const entry of text.split(',').map((s) => s.trim())) {
      if (entry === '') continue;
      const slash = entry.indexOf('/');
      const ip = canonicalIp(slash < 0 ? entry : entry.slice(0, slash));
      const family = isIP(ip);
      if (family === 0) throw new Error(`"${entry}" is not an IP address or CIDR block`);
      const type = family === 4 ? 'ipv4' : 'ipv6';
      const max = family === 4 ? 32 : 128;
      const bits = slash < 0 ? max : Number(entry.slice(slash + 1));
      if (!Number.isInteger(bits) || bits < 0 || bits > max) {
        throw new Error(`"${entry}": prefix length must be 0-${max}`);
      }
      set.list.addSubnet(ip, bits, type);
      set.empty = false;
    }
    return set;
  }

  /** Whether `ip` (any textual form, IPv4-mapped too) is in the set. */
  has(ip: string | undefined): boolean {
    if (this.empty || ip === undefined) return false;
    const known = this.memo.get(ip);
    if (known !== undefined) return known;
    const c = canonicalIp(ip);
    const family = isIP(c);
    const answer = family !== 0 && this.list.check(c, family === 4 ? 'ipv4' : 'ipv6');
    if (this.memo.size >= MEMO_MAX) this.memo.clear();
    this.memo.set(ip, answer);
    return answer;
  }
}
