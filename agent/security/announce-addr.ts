import { isIP } from 'node:net';
import { parseAddr } from '../store/record.js';

/**
 * Verified announce addresses: a provider's `addr` must name the host that
 * announced it, so nobody can point a swarm at a third party (the legacy
 * overlay let any host announce any address). Shared by the gRPC Announce,
 * the legacy `announce` and the HTTP tracker endpoint.
 */

/** What makes a caller trusted to announce any address. */
export interface AnnounceTrust {
  /** The caller's address is in `--trusted-sources` (default: loopback, 127.0.0.0/8 and ::1). */
  readonly trustedSource: boolean;
  /** The caller presented a client certificate the agent's CA verified (mTLS). */
  readonly tlsClient: boolean;
  /** `--allow-foreign-addr`: the check is off. */
  readonly allowForeign: boolean;
}

/** The outcome of the check. */
export type AnnounceVerdict =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: 'foreign_addr'; readonly message: string };

/** An IP in one canonical text form: IPv4-mapped IPv6 becomes IPv4, IPv6 is lowercased and compressed. */
export function canonicalIp(ip: string): string {
  let t = ip.trim();
  if (t.startsWith('[') && t.endsWith(']')) t = t.slice(1, -1);
  const zone = t.indexOf('%');
  if (zone >= 0) t = t.slice(0, zone);
  const lower = t.toLowerCase();
  if (lower.startsWith('::ffff:') && isIP(lower.slice(7)) === 4) return lower.slice(7);
  if (isIP(lower) === 6) {
    // WHATWG URL serialises IPv6 in the RFC 5952 canonical form.
    return new URL(`http://[${lower}]/`).hostname.slice(1, -1);
  }
  return lower;
}

/**
 * Whether `addr` ("host:port", already validated) may be announced by a caller
 * seen at `observedIp`. Its host must be that IP literally (a DNS name cannot
 * be verified without trusting the caller's resolver, so it is refused), unless
 * the caller is trusted.
 */
export function checkAnnounceAddr(
  observedIp: string | undefined,
  addr: string,
  trust: AnnounceTrust,
): AnnounceVerdict {
  if (trust.allowForeign || trust.trustedSource || trust.tlsClient) return { ok: true };
  let host: string;
  try {
    host = parseAddr(addr).host;
  } catch {
    return { ok: false, reason: 'foreign_addr', message: `addr "${addr}" is not host:port` };
  }
  const seen = observedIp === undefined ? '' : canonicalIp(observedIp);
  if (isIP(host) === 0) {
    return {
      ok: false,
      reason: 'foreign_addr',
      message: `addr host "${host}" is a name; announce your IP address (${seen || 'unknown'})`,
    };
  }
  if (seen !== '' && canonicalIp(host) === seen) return { ok: true };
  return {
    ok: false,
    reason: 'foreign_addr',
    message: `addr host ${host} is not the caller's address ${seen || '(unknown)'}; only trusted callers may announce another host`,
  };
}
