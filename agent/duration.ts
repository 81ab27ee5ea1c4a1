import { ConfigError } from './errors.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a duration such as "90s", "500ms", "1.5m" or "2h" into milliseconds. A bare
 * number is taken as seconds, as operators write `--ttl 90`.
 */
export function parseDuration(text: string, name: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (m === null)
    throw new ConfigError(`${name}: "${text}" is not a duration (e.g. 90s, 500ms, 2m)`);
  const ms = Number(m[1]) * UNITS[m[2] ?? 's'];
  if (!Number.isFinite(ms)) throw new ConfigError(`${name}: "${text}" is out of range`);
  return Math.round(ms);
}

/** Formats milliseconds for logs and help texts: 90000 → "90s". */
export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
