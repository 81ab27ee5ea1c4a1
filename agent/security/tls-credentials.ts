import { credentials, ServerCredentials, type ChannelCredentials } from '@grpc/grpc-js';
import type { TlsMaterial } from './tls.js';

/** Server credentials: a client certificate is required (and verified) when a CA is given. */
export function serverCredentials(t: TlsMaterial): ServerCredentials {
  return ServerCredentials.createSsl(
    t.ca ?? null,
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
