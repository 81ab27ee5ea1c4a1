/**
 * Errors nothing else caught, per process (one agent runs per process, and Node's
 * process events are process-wide). What happens after each (docs/security.md §7):
 *
 * - an uncaught exception: the stack unwound through code that did not expect it,
 *   so the agent's state may be inconsistent (a half-applied merge, a lock held).
 *   It is logged at fatal with its stack, counted, and the process exits with
 *   EX_SOFTWARE (70, sysexits.h) — what Node itself does (exit 1) and what most
 *   daemons do; the supervisor restarts a clean process, and the data dir's
 *   crash safety makes that restart lose nothing verified.
 * - an unhandled promise rejection: one operation's failure nobody awaited; the
 *   state it touched is the operation's own. Logged with its stack, counted, and the
 *   agent goes on (Node's default since v15 would exit).
 */
import type { Logger } from 'pino';

/** Where an unexpected error surfaced (btoverlay_process_errors_total{kind}). */
export const PROCESS_ERROR_KINDS = [
  'uncaught_exception',
  'unhandled_rejection',
  'grpc_internal',
] as const;
export type ProcessErrorKind = (typeof PROCESS_ERROR_KINDS)[number];

/** Exit code after an uncaught exception: EX_SOFTWARE, "internal software error" (sysexits.h). */
export const EXIT_UNCAUGHT = 70;

/** This process's counts, by kind (read by the metrics at scrape time). */
export const processErrors: Record<ProcessErrorKind, number> = {
  uncaught_exception: 0,
  unhandled_rejection: 0,
  grpc_internal: 0,
};

/** What `installProcessErrorHandlers` listens on: `process`, or an emitter in tests. */
export interface ProcessEvents {
  on(event: 'uncaughtException', fn: (err: Error, origin: string) => void): unknown;
  on(event: 'unhandledRejection', fn: (reason: unknown) => void): unknown;
  off(event: 'uncaughtException', fn: (err: Error, origin: string) => void): unknown;
  off(event: 'unhandledRejection', fn: (reason: unknown) => void): unknown;
}

/** Logs (with stack) and counts an error the gRPC edge answered INTERNAL. */
export function reportGrpcInternal(log: Logger, method: string, err: unknown): void {
  processErrors.grpc_internal++;
  log.error({ err: asError(err), method }, 'unexpected error, answered INTERNAL');
}

/** pino's `err` serializer prints message and stack of Errors; wrap anything else. */
function asError(v: unknown): Error {
  return v instanceof Error ? v : new Error(`non-Error value thrown: ${String(v)}`);
}

/**
 * Installs the handlers (see the module comment). Returns a function removing them.
 * `exit` is `process.exit` outside tests.
 */
export function installProcessErrorHandlers(
  log: Logger,
  proc: ProcessEvents = process,
  exit: (code: number) => void = (code) => process.exit(code),
): () => void {
  const onException = (err: Error, origin: string): void => {
    processErrors.uncaught_exception++;
    // The logger writes synchronously (log.ts), so the line is out before the exit.
    log.fatal(
      { err: asError(err), origin },
      'uncaught exception: exiting, state may be inconsistent',
    );
    exit(EXIT_UNCAUGHT);
  };
  const onRejection = (reason: unknown): void => {
    processErrors.unhandled_rejection++;
    log.error({ err: asError(reason) }, 'unhandled promise rejection (the agent goes on)');
  };
  proc.on('uncaughtException', onException);
  proc.on('unhandledRejection', onRejection);
  return () => {
    proc.off('uncaughtException', onException);
    proc.off('unhandledRejection', onRejection);
  };
}
