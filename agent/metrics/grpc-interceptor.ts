import {
  ServerInterceptingCall,
  status as GrpcStatus,
  type ServerInterceptor,
} from '@grpc/grpc-js';

/** Sees every finished gRPC call: its path ("/pkg.Service/Method"), status code and duration. */
export type CallObserver = (path: string, code: number, seconds: number) => void;

/**
 * A grpc-js server interceptor that reports each call once, when its status is
 * sent (or, if the client cancels first, as CANCELLED). It covers every service
 * on the server — unary and streaming, health and reflection included — without
 * touching the handlers. Duration runs from the call's arrival at the
 * interceptor to its status: the whole stream for streaming calls.
 */
export function callMetricsInterceptor(observe: CallObserver): ServerInterceptor {
  return (descriptor, call) => {
    const started = process.hrtime.bigint();
    let reported = false;
    const report = (code: number): void => {
      if (reported) return;
      reported = true;
      observe(descriptor.path, code, Number(process.hrtime.bigint() - started) / 1e9);
    };
    return new ServerInterceptingCall(call, {
      start: (next) => next({ onCancel: () => report(GrpcStatus.CANCELLED) }),
      sendStatus: (s, next) => {
        report(s.code ?? GrpcStatus.UNKNOWN);
        next(s);
      },
    });
  };
}
