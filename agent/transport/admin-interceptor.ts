import { ServerInterceptingCall, type ServerInterceptor } from '@grpc/grpc-js';
import { toServiceError } from './grpc-status.js';
import { isAdminMethod, type AdminPolicy, type AdminRefusal } from '../security/admin.js';
import { callerIp } from '../security/grpc-caller.js';

/** Sees every refused admin call: why, from where, which method. */
export type AdminRefusalObserver = (
  reason: AdminRefusal,
  ip: string | undefined,
  path: string,
) => void;

/**
 * The admin plane's one gate: a grpc-js server interceptor that, for every method
 * of an admin service (admin.ts `ADMIN_SERVICES`), decides from the socket's peer
 * address, the verified client certificate and the `authorization` metadata before
 * the handler runs, and answers PERMISSION_DENIED or UNAUTHENTICATED itself
 * otherwise. Unary and streaming alike (Watch), so no method can forget it. Placed
 * after the metrics interceptor, whose sendStatus then counts the refusal too.
 */
export function adminInterceptor(
  policy: AdminPolicy,
  onRefuse: AdminRefusalObserver,
): ServerInterceptor {
  return (descriptor, call) => {
    if (!isAdminMethod(descriptor.path))
      // Public methods: no extra layer when an outer interceptor already made one (metrics).
      return call instanceof ServerInterceptingCall ? call : new ServerInterceptingCall(call);
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            const ip = callerIp(call);
            const verdict = policy.check({
              ip,
              authorization: metadata.get('authorization'),
              peerCert: call.getAuthContext().sslPeerCertificate?.raw,
            });
            if (verdict.ok) {
              // Handlers never see the secret (nothing downstream can log it).
              metadata.remove('authorization');
              nextMetadata(metadata);
              return;
            }
            onRefuse(verdict.reason, ip, descriptor.path);
            const e = toServiceError(verdict.error);
            call.sendStatus({ code: e.code!, details: e.details!, metadata: e.metadata });
          },
        }),
    });
  };
}
