/**
 * Unexpected errors at the gRPC edge are seen: every handler of the agent's services
 * is wrapped where the services are registered (grpc-server.ts), and an error that
 * is answered INTERNAL (one no typed error maps, see grpc-status.ts) reaches the
 * observer with its cause and stack before the status goes out. Typed, expected
 * errors (INVALID_ARGUMENT, NOT_FOUND, …) pass unobserved.
 */
import {
  status,
  type ServiceDefinition,
  type ServerErrorResponse,
  type ServerWritableStream,
  type sendUnaryData,
  type ServerUnaryCall,
  type UntypedHandleCall,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { toServiceError } from './grpc-status.js';

/** Sees an error answered INTERNAL: the method's path and the original error. */
export type InternalErrorObserver = (path: string, err: unknown) => void;

/** The error behind an INTERNAL status (toServiceError keeps it as `cause`), or undefined. */
function internalCause(err: unknown): unknown {
  if (err === null || err === undefined) return undefined;
  const e = err as Partial<ServerErrorResponse> & { cause?: unknown };
  if (typeof e.code === 'number' && e.code !== status.INTERNAL) return undefined;
  return e.cause ?? err;
}

type Unary = (call: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) => void;
type ServerStream = (call: ServerWritableStream<unknown, unknown>) => void;

function wrapUnary(path: string, h: Unary, observe: InternalErrorObserver): Unary {
  return (call, callback) => {
    const cb: sendUnaryData<unknown> = (err, ...rest) => {
      const cause = internalCause(err);
      if (cause !== undefined) observe(path, cause);
      callback(err, ...rest);
    };
    try {
      h(call, cb);
    } catch (err) {
      cb(toServiceError(err), null);
    }
  };
}

function wrapServerStream(
  path: string,
  h: ServerStream,
  observe: InternalErrorObserver,
): ServerStream {
  return (call) => {
    // A stream fails by emitting 'error' (grpc-js turns it into the status).
    call.on('error', (err: unknown) => {
      const cause = internalCause(err);
      if (cause !== undefined) observe(path, cause);
    });
    try {
      h(call);
    } catch (err) {
      call.emit('error', toServiceError(err));
    }
  };
}

/** `impl` with every unary and server-streaming handler reporting its INTERNAL errors. */
export function reportInternalErrors(
  service: ServiceDefinition,
  impl: UntypedServiceImplementation,
  observe: InternalErrorObserver,
): UntypedServiceImplementation {
  const out: UntypedServiceImplementation = {};
  for (const [name, def] of Object.entries(service)) {
    const h = impl[name];
    if (h === undefined) continue;
    let wrapped: UntypedHandleCall = h;
    if (!def.requestStream && !def.responseStream)
      wrapped = wrapUnary(def.path, h as Unary, observe) as UntypedHandleCall;
    else if (!def.requestStream)
      wrapped = wrapServerStream(def.path, h as ServerStream, observe) as UntypedHandleCall;
    out[name] = wrapped;
  }
  return out;
}
