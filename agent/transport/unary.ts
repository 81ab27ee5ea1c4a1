import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import { toServiceError } from './grpc-status.js';

/** A hook that sees every finished call: method, gRPC code name and duration. */
export type CallObserver = (method: string, code: number, durationMs: number) => void;

let observer: CallObserver | undefined;

/** Installs the process-wide call observer (metrics). */
export function setCallObserver(o: CallObserver | undefined): void {
  observer = o;
}

/**
 * Wraps a synchronous handler as a grpc-js unary handler: its return value is the
 * reply and anything it throws is mapped to a status by `toServiceError`, once.
 */
export function unary<Req, Res>(
  handler: (req: Req, call: ServerUnaryCall<Req, Res>) => Res | Promise<Res>,
): (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void {
  return (call, callback) => {
    const started = performance.now();
    const done = (err: unknown, res?: Res): void => {
      if (err === null) callback(null, res);
      else {
        const e = toServiceError(err);
        callback(e, null);
      }
      if (observer !== undefined) {
        const code = err === null ? 0 : (toServiceError(err).code ?? 2);
        observer(call.getPath(), code, performance.now() - started);
      }
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
