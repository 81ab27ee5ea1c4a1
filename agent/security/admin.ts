/**
 * The private admin plane (docs/security.md §6): which callers may use the
 * operator-only gRPC methods. Pure: it decides from what the socket and the call
 * metadata say and does no I/O; `admin-interceptor.ts` applies it at the edge.
 */
import { createHash, timingSafeEqual, X509Certificate } from 'node:crypto';
import { PermissionDeniedError, UnauthenticatedError } from './errors.js';
import type { SourceSet } from './sources.js';

/**
 * Services whose every method (present and future) is operator-only. The Torrents
 * service makes the agent download to, write and delete files under its download
 * root and dial addresses a caller names. Everything else in proto/ is public
 * (Lookup, Announce with its address check, Control's read-only views, health,
 * reflection) or agent-to-agent (Cluster, Overlay.Gossip: the cluster key's job).
 */
export const ADMIN_SERVICES = ['btoverlay.v1.Torrents'] as const;

/** Why an admin call was refused, as counted (btoverlay_admin_refusals_total{reason}). */
export const ADMIN_REFUSALS = ['not_admin', 'bad_token'] as const;
export type AdminRefusal = (typeof ADMIN_REFUSALS)[number];

/** Shortest admin token accepted: 32 characters (>= 128 bits even as hex). */
export const MIN_ADMIN_TOKEN_LENGTH = 32;
/** Longest admin token (it travels in one HTTP/2 header, RFC 9113 §8.2). */
export const MAX_ADMIN_TOKEN_LENGTH = 4096;

/** Whether `path` ("/pkg.Service/Method") is an admin method. */
export function isAdminMethod(path: string): boolean {
  const slash = path.lastIndexOf('/');
  return (ADMIN_SERVICES as readonly string[]).includes(path.slice(1, slash));
}

const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * The secret of `--admin-token-file`. Only its SHA-256 is kept, and a presented
 * token is compared digest to digest with `timingSafeEqual`: fixed length, so
 * neither the comparison's time nor its early exit tells how much matched.
 */
export class AdminToken {
  private constructor(private readonly digest: Buffer) {}

  /** Parses the file's text: one line of printable ASCII, 32-4096 characters. */
  static parse(text: string): AdminToken {
    const t = text.trim();
    if (t.length < MIN_ADMIN_TOKEN_LENGTH)
      throw new Error(
        `the token has ${t.length} characters; it needs at least ${MIN_ADMIN_TOKEN_LENGTH} (e.g. openssl rand -hex 32)`,
      );
    if (t.length > MAX_ADMIN_TOKEN_LENGTH)
      throw new Error(`the token is longer than ${MAX_ADMIN_TOKEN_LENGTH} characters`);
    // A header value: visible ASCII only (RFC 9110 §5.5), so btctl can send it as is.
    if (!/^[\x21-\x7e]+$/.test(t))
      throw new Error('the token must be one line of printable ASCII without spaces');
    return new AdminToken(sha256(t));
  }

  /** Whether `presented` is the token (constant time in the token's content). */
  matches(presented: string): boolean {
    return timingSafeEqual(sha256(presented), this.digest);
  }
}

/** `--admin-tls-ca`: the CAs whose client certificates are admin credentials. */
export class AdminCa {
  private constructor(private readonly cas: readonly X509Certificate[]) {}

  /** Parses a PEM bundle (one or more CERTIFICATE blocks). */
  static parse(pem: string): AdminCa {
    const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
    if (blocks === null) throw new Error('no PEM CERTIFICATE block');
    return new AdminCa(blocks.map((b) => new X509Certificate(b)));
  }

  /**
   * Whether the certificate (DER, already verified by the TLS handshake) was
   * issued directly by one of these CAs: issuer name and signature both match.
   */
  issued(der: Buffer): boolean {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(der);
    } catch {
      return false;
    }
    return this.cas.some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey));
  }
}

/** Who may call admin methods. */
export interface AdminOptions {
  /** `--admin-sources`: caller addresses that need no credential (default loopback). */
  readonly sources: SourceSet;
  /** `--admin-token-file`; undefined = no token admits anyone. */
  readonly token: AdminToken | undefined;
  /** `--admin-tls-ca`; undefined = no client certificate admits anyone. */
  readonly tlsCa: AdminCa | undefined;
}

/** What the edge knows about a caller. */
export interface AdminCaller {
  /** The socket's peer address (never anything the caller claims). */
  readonly ip: string | undefined;
  /** The `authorization` metadata values, as received. */
  readonly authorization: readonly unknown[];
  /** DER of the client certificate the TLS handshake verified, if any. */
  readonly peerCert: Buffer | undefined;
}

/** The decision on one admin call. */
export type AdminVerdict =
  | { readonly ok: true; readonly via: 'source' | 'certificate' | 'token' }
  | {
      readonly ok: false;
      readonly reason: AdminRefusal;
      readonly error: PermissionDeniedError | UnauthenticatedError;
    };

/** The bearer token of `authorization: Bearer <token>` (RFC 6750 §2.1), or undefined. */
function bearer(values: readonly unknown[]): string | undefined {
  if (values.length !== 1 || typeof values[0] !== 'string') return undefined;
  const m = /^Bearer +(\S+) *$/i.exec(values[0]);
  return m === null ? undefined : m[1];
}

/** Decides admin calls: an admin source, an admin client certificate, or the admin token. */
export class AdminPolicy {
  constructor(readonly options: AdminOptions) {}

  check(caller: AdminCaller): AdminVerdict {
    const o = this.options;
    if (o.sources.has(caller.ip)) return { ok: true, via: 'source' };
    if (caller.peerCert !== undefined && o.tlsCa?.issued(caller.peerCert))
      return { ok: true, via: 'certificate' };
    const who = `this host (${caller.ip ?? 'unknown address'}) is not in --admin-sources`;
    if (caller.authorization.length > 0 && o.token !== undefined) {
      const presented = bearer(caller.authorization);
      if (presented !== undefined && o.token.matches(presented)) return { ok: true, via: 'token' };
      return {
        ok: false,
        reason: 'bad_token',
        error: new UnauthenticatedError(
          'bad_token',
          `admin method refused: ${who} and the admin token sent is wrong; send the token of the agent's --admin-token-file (btctl --token-file, as "authorization: Bearer <token>")`,
        ),
      };
    }
    const ways = [
      'allow this host with --admin-sources',
      o.token === undefined
        ? 'start the agent with --admin-token-file and send that token (btctl --token-file)'
        : 'send the token of --admin-token-file (btctl --token-file)',
    ];
    if (o.tlsCa !== undefined) ways.push('present a client certificate issued by --admin-tls-ca');
    return {
      ok: false,
      reason: 'not_admin',
      error: new PermissionDeniedError(
        'not_admin',
        `admin method refused: ${who}; ${ways.join(', or ')}`,
      ),
    };
  }
}
