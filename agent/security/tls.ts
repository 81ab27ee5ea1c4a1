import { readFileSync } from 'node:fs';

/**
 * Optional TLS for gRPC (`--tls-cert --tls-key [--tls-ca] [--tls-server-name]`,
 * the same flags on btagent and btctl). With a CA, the agent requires and
 * verifies a client certificate (mTLS), and agents present theirs when they
 * call each other. This module only reads the files; `tls-credentials.ts` turns them
 * into gRPC credentials, so that parsing flags does not load gRPC.
 */

/** PEM contents of the TLS files. */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** CA bundle: verifies peers' certificates (clients' on the server side). */
  readonly ca: Buffer | undefined;
  /** Name to check the server's certificate against instead of the dialled host. */
  readonly serverName: string | undefined;
}

/** Paths as given on the command line. */
export interface TlsPaths {
  readonly cert?: string | undefined;
  readonly key?: string | undefined;
  readonly ca?: string | undefined;
  readonly serverName?: string | undefined;
}

/** A TLS flag that cannot be used; the message names the flag. */
export class TlsConfigError extends Error {
  override name = 'TlsConfigError';
}

function readPem(path: string, flag: string): Buffer {
  let b: Buffer;
  try {
    b = readFileSync(path);
  } catch (err) {
    throw new TlsConfigError(
      `${flag}: cannot read ${path} (${(err as NodeJS.ErrnoException).code})`,
    );
  }
  if (!b.toString('latin1').includes('-----BEGIN ')) {
    throw new TlsConfigError(`${flag}: ${path} is not a PEM file`);
  }
  return b;
}

/**
 * Reads the TLS files. Returns undefined when no TLS flag is given; for a
 * server both --tls-cert and --tls-key are needed; a client may give only
 * --tls-ca (server verification without a client certificate).
 */
export function readTls(paths: TlsPaths, role: 'server' | 'client'): TlsMaterial | undefined {
  const any = paths.cert || paths.key || paths.ca;
  if (!any) return undefined;
  if (!paths.cert !== !paths.key) {
    throw new TlsConfigError(
      `${paths.cert ? '--tls-key' : '--tls-cert'}: --tls-cert and --tls-key go together`,
    );
  }
  if (role === 'server' && !paths.cert) {
    throw new TlsConfigError('--tls-cert: the agent needs a certificate and key to serve TLS');
  }
  return {
    cert: paths.cert ? readPem(paths.cert, '--tls-cert') : Buffer.alloc(0),
    key: paths.key ? readPem(paths.key, '--tls-key') : Buffer.alloc(0),
    ca: paths.ca ? readPem(paths.ca, '--tls-ca') : undefined,
    serverName: paths.serverName || undefined,
  };
}
