import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import { toServiceError } from './grpc-status.js';

/**
 * Wraps a synchronous handler as a grpc-js unary handler: its return value is the
 * reply and anything it throws is mapped to a status by `toServiceError`, once.
 * (Call metrics come from a server interceptor: agent/metrics/grpc-interceptor.ts.)
 */
export function unary<Req, Res>(
  handler: (req: Req, call: ServerUnaryCall<Req, Res>) => Res | Promise<Res>,
): (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void {
  return (call, callback) => {
    const done = (err: unknown, res?: Res): void => {
      if (err === null) callback(null, res);
      else callback(toServiceError(err), null);
    };
    try {
      const out = handler(call.request, call);
      if (out instanceof Promise)
        out.then(
          (r) => done(null, r),
          (e: unknown) => done(e),
        );
      else done(null, out);
    } catch (err) {
      done(err);
    }
  };
}
