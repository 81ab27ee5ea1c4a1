import { pino, type Logger } from 'pino';

/** Log levels pino understands. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * The agent's JSON logger (one line per event on stdout), tagged with its node id.
 * Writes are synchronous: an asynchronous sonic-boom buffers lines and flushes them at
 * exit with a loop that retries EPIPE forever, so an agent whose stdout reader had gone
 * (its supervisor killed) never exited. Synchronously, a broken pipe just turns logging off.
 */
export function createLogger(level: LogLevel, nodeId: string): Logger {
  return pino(
    { level, base: { node_id: nodeId }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ dest: 1, sync: true }),
  );
}
