import { credentials, type ChannelCredentials, type ChannelOptions } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';

/**
 * btctl's TLS: `--tls-ca` verifies the agent's certificate, `--tls-cert` and
 * `--tls-key` present a client certificate (required by agents started with
 * `--tls-ca`), `--tls-server-name` checks the agent's certificate against a
 * name other than the dialled host. (The agent's side is agent/security/tls.ts;
 * control/ imports nothing from agent/.)
 */

/** PEM contents for a TLS channel. */
export interface ClientTls {
  readonly ca: Buffer | undefined;
  readonly cert: Buffer | undefined;
  readonly key: Buffer | undefined;
  readonly serverName: string | undefined;
}

/** A TLS flag that cannot be used; the message names it. */
export class ClientTlsError extends Error {
  override name = 'ClientTlsError';
}

function pem(path: string, flag: string): Buffer {
  let b: Buffer;
  try {
    b = readFileSync(path);
  } catch (err) {
    throw new ClientTlsError(
      `${flag}: cannot read ${path} (${(err as NodeJS.ErrnoException).code})`,
    );
  }
  if (!b.toString('latin1').includes('-----BEGIN ')) {
    throw new ClientTlsError(`${flag}: ${path} is not a PEM file`);
  }
  return b;
}

/** Reads the TLS flags; undefined when none is given (plaintext). */
export function readClientTls(flags: {
  tlsCa?: string | undefined;
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
  tlsServerName?: string | undefined;
}): ClientTls | undefined {
  if (!flags.tlsCa && !flags.tlsCert && !flags.tlsKey) {
    if (flags.tlsServerName) throw new ClientTlsError('--tls-server-name: needs --tls-ca');
    return undefined;
  }
  if (!flags.tlsCert !== !flags.tlsKey) {
    throw new ClientTlsError(
      `${flags.tlsCert ? '--tls-key' : '--tls-cert'}: --tls-cert and --tls-key go together`,
    );
  }
  return {
    ca: flags.tlsCa ? pem(flags.tlsCa, '--tls-ca') : undefined,
    cert: flags.tlsCert ? pem(flags.tlsCert, '--tls-cert') : undefined,
    key: flags.tlsKey ? pem(flags.tlsKey, '--tls-key') : undefined,
    serverName: flags.tlsServerName || undefined,
  };
}

/** Channel credentials and options for `tls` (plaintext when undefined). */
export function clientChannel(tls: ClientTls | undefined): {
  creds: ChannelCredentials;
  options: ChannelOptions;
} {
  if (tls === undefined) return { creds: credentials.createInsecure(), options: {} };
  return {
    creds: credentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null),
    options:
      tls.serverName === undefined
        ? {}
        : {
            'grpc.ssl_target_name_override': tls.serverName,
            'grpc.default_authority': tls.serverName,
          },
  };
}
