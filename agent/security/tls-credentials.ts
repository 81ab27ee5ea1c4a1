import { credentials, ServerCredentials, type ChannelCredentials } from '@grpc/grpc-js';
import type { TlsMaterial } from './tls.js';

/**
 * TLS that asks for a client certificate but admits callers without one (or with one
 * the CA did not sign; the socket is then not `authorized` and grpc-js reports no
 * peer certificate). grpc-js's createSsl can only require or not ask.
 */
class OptionalClientCertCredentials extends ServerCredentials {
  constructor(ca: Buffer, key: Buffer, cert: Buffer) {
    super({ requestCert: true, rejectUnauthorized: false }, { ca, key: [key], cert: [cert] });
  }
  _equals(other: ServerCredentials): boolean {
    return other === this;
  }
}

/**
 * Server credentials: a client certificate is required (and verified) when a CA is
 * given. `adminCa` (--admin-tls-ca) joins the verifying bundle; without --tls-ca its
 * certificates are asked for but optional, so clients without one still connect.
 */
export function serverCredentials(t: TlsMaterial, adminCa?: Buffer): ServerCredentials {
  if (adminCa !== undefined && t.ca === undefined)
    return new OptionalClientCertCredentials(adminCa, t.key, t.cert);
  const ca = adminCa === undefined ? t.ca : Buffer.concat([t.ca!, Buffer.from('\n'), adminCa]);
  return ServerCredentials.createSsl(
    ca ?? null,
    [{ private_key: t.key, cert_chain: t.cert }],
    t.ca !== undefined,
  );
}

/** Channel credentials and options for dialling a TLS agent (client certificate when given). */
export function channelCredentials(t: TlsMaterial): {
  creds: ChannelCredentials;
  options: Record<string, string>;
} {
  const hasCert = t.cert.length > 0;
  const creds = credentials.createSsl(
    t.ca ?? null,
    hasCert ? t.key : null,
    hasCert ? t.cert : null,
  );
  return {
    creds,
    options:
      t.serverName === undefined
        ? {}
        : {
            'grpc.ssl_target_name_override': t.serverName,
            'grpc.default_authority': t.serverName,
          },
  };
}
