import { InvalidAddrError, InvalidArgumentError } from '../errors.js';

/** BEP 3: a peer id is 20 bytes. */
export const MAX_PEER_ID_LENGTH = 20;
/** RFC 1035 §2.3.4: a DNS name is at most 253 characters in text form. */
export const MAX_HOSTNAME_LENGTH = 253;
/** RFC 1035 §2.3.4: a label is at most 63 octets. */
const MAX_LABEL_LENGTH = 63;

/**
 * One provider record as the Store holds it. Compact on purpose (the Store aims at
 * ≤ 200 bytes per provider): the peer id is a latin1 string of its raw bytes, the
 * origin an interned string, times are numbers.
 */
export interface ProviderRecord {
  /** "host:port" of the provider's peer-wire listener; the key within its info hash. */
  readonly addr: string;
  /** Raw peer id bytes as a latin1 string (≤ 20 chars); may be empty. */
  readonly peerId: string;
  /** Bytes left to download; 0 = seeder. Always a safe integer. */
  readonly left: number;
  /** Unix milliseconds of the last announce. */
  readonly lastSeen: number;
  /** Node id of the agent that accepted the announce; '' for legacy records. */
  readonly origin: string;
  /** A removal (tombstone). */
  readonly removed: boolean;
  /**
   * Ed25519 public key (32 raw bytes as latin1) of the agent that signed the
   * record (agent/security/record-signature.ts); undefined when unsigned.
   */
  readonly signer?: string | undefined;
  /** Ed25519 signature (64 raw bytes as latin1) by `signer`; undefined when unsigned. */
  readonly sig?: string | undefined;
}

/**
 * The merge order: a total order over records of the same addr, so "keep the
 * greater" is commutative, associative and idempotent (a join semilattice).
 * last_seen first (last writer wins); on a tie a removal beats a live record, then
 * the greater origin, peer id and left. Returns <0, 0 or >0.
 */
export function compareRecords(a: ProviderRecord, b: ProviderRecord): number {
  if (a.lastSeen !== b.lastSeen) return a.lastSeen < b.lastSeen ? -1 : 1;
  if (a.removed !== b.removed) return a.removed ? 1 : -1;
  if (a.origin !== b.origin) return a.origin < b.origin ? -1 : 1;
  if (a.peerId !== b.peerId) return a.peerId < b.peerId ? -1 : 1;
  if (a.left !== b.left) return a.left < b.left ? -1 : 1;
  // Equal content signed differently (only when two keys claim one origin, or
  // one copy is unsigned): still a total order, so replicas converge; signed wins.
  if (a.signer !== b.signer) return (a.signer ?? '') < (b.signer ?? '') ? -1 : 1;
  if (a.sig !== b.sig) return (a.sig ?? '') < (b.sig ?? '') ? -1 : 1;
  return 0;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6_CHARS = /^[0-9a-fA-F:.]+$/;
// Letters, digits, hyphen (RFC 1123 §2.1); underscore too, which Docker service
// and task names use in practice.
const LABEL = /^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?$/;

/** Whether `host` is a valid IPv6 literal (without brackets). */
function isIPv6(host: string): boolean {
  if (!IPV6_CHARS.test(host) || !host.includes(':')) return false;
  try {
    // WHATWG URL parsing implements the RFC 4291 text grammar; it throws otherwise.
    new URL(`http://[${host}]/`);
    return true;
  } catch {
    return false;
  }
}

function isHostname(host: string): boolean {
  if (host.length === 0 || host.length > MAX_HOSTNAME_LENGTH) return false;
  const labels = (host.endsWith('.') ? host.slice(0, -1) : host).split('.');
  // An all-numeric dotted name that is not a valid IPv4 address (e.g. 999.1.1.1)
  // is a typo, not a DNS name.
  if (labels.every((l) => /^\d+$/.test(l))) return false;
  return labels.every((l) => l.length <= MAX_LABEL_LENGTH && LABEL.test(l));
}

/** Splits and validates "host:port". Returns the host (brackets removed) and port. */
export function parseAddr(addr: string, field = 'provider.addr'): { host: string; port: number } {
  if (addr.length === 0) throw new InvalidAddrError('must not be empty', field);
  if (addr.length > MAX_HOSTNAME_LENGTH + 8) {
    throw new InvalidAddrError(`too long (${addr.length} characters)`, field);
  }
  const colon = addr.lastIndexOf(':');
  if (colon <= 0) throw new InvalidAddrError(`"${addr}" is not host:port`, field);
  let host = addr.slice(0, colon);
  const portText = addr.slice(colon + 1);
  if (!/^\d{1,5}$/.test(portText)) throw new InvalidAddrError(`bad port "${portText}"`, field);
  const port = Number(portText);
  if (port < 1 || port > 65535)
    throw new InvalidAddrError(`port ${port} out of range 1-65535`, field);
  if (host.startsWith('[') && host.endsWith(']')) {
    host = host.slice(1, -1);
    if (!isIPv6(host)) throw new InvalidAddrError(`bad IPv6 address "${host}"`, field);
    return { host, port };
  }
  if (IPV4.test(host) || isHostname(host)) return { host, port };
  throw new InvalidAddrError(`bad host "${host}" (want an IPv4, [IPv6] or DNS name)`, field);
}

/** Validates a peer id (≤ 20 bytes) and returns its latin1 form. */
export function peerIdString(bytes: Uint8Array, field = 'provider.peer_id'): string {
  if (bytes.length > MAX_PEER_ID_LENGTH) {
    throw new InvalidArgumentError(
      field,
      `must be at most ${MAX_PEER_ID_LENGTH} bytes, got ${bytes.length}`,
    );
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

/** Validates `left` (a byte count) and returns it as a safe integer. */
export function leftNumber(value: bigint | number, field = 'provider.left'): number {
  const n = typeof value === 'bigint' ? value : BigInt(Math.trunc(value));
  if (
    n < 0n ||
    n > BigInt(Number.MAX_SAFE_INTEGER) ||
    (typeof value === 'number' && !Number.isInteger(value))
  ) {
    throw new InvalidArgumentError(
      field,
      `must be an integer 0..${Number.MAX_SAFE_INTEGER}, got ${value}`,
    );
  }
  return Number(n);
}

/**
 * The provider host an addr belongs to, for per-host bounds: the host part of
 * "host:port", lower-cased; for an IPv6 literal its /64 prefix, since one host
 * (one customer, RFC 6177) holds a whole /64 and could otherwise announce from
 * as many addresses as it likes. Pure and cheap; never throws (an unparsable
 * addr is its own host).
 */
export function hostKeyOf(addr: string): string {
  const colon = addr.lastIndexOf(':');
  const host = colon <= 0 ? addr : addr.slice(0, colon);
  if (!host.startsWith('[')) return host.toLowerCase();
  const v6 = host.slice(1, -1).toLowerCase();
  // Expand "::" so equal prefixes compare equal whatever the text form.
  const [head, tail] = v6.includes('::') ? v6.split('::', 2) : [v6, undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups =
    tail === undefined
      ? h
      : [...h, ...Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t];
  return groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')
    .concat('::/64');
}
