import { pino, type Logger } from 'pino';
import type { LogLevel } from './config.js';

/** The agent's JSON logger (one line per event on stdout), tagged with its node id. */
export function createLogger(level: LogLevel, nodeId: string): Logger {
  return pino({ level, base: { node_id: nodeId }, timestamp: pino.stdTimeFunctions.isoTime });
}
