/**
 * Validation of btctl's arguments (pure). Each parser throws UsageError naming the
 * argument, which btctl turns into exit code 2.
 */

/** A bad argument or bad usage: exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$/;

/** Validates "host:port" for `--node`, `--addr` and friends. */
export function parseHostPort(text: string, name: string): string {
  const m = HOST_PORT.exec(text.trim());
  const port = m === null ? 0 : Number(m[2]);
  if (m === null || port < 1 || port > 65535) {
    throw new UsageError(`${name}: "${text}" is not host:port (port 1-65535)`);
  }
  return text.trim();
}

/** Parses a duration: "3s", "500ms", "2m", or a bare number of seconds. */
export function parseTimeout(text: string, name: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (m === null) throw new UsageError(`${name}: "${text}" is not a duration (e.g. 3s, 500ms)`);
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000 };
  const ms = Number(m[1]) * unit[m[2] ?? 's'];
  if (!(ms > 0) || ms > 3_600_000)
    throw new UsageError(`${name}: "${text}" must be between 1ms and 1h`);
  return Math.round(ms);
}

/** Parses a non-negative integer no greater than `max`. */
export function parseCount(text: string, name: string, max: number): number {
  if (!/^\d+$/.test(text.trim()))
    throw new UsageError(`${name}: "${text}" is not a non-negative integer`);
  const n = Number(text.trim());
  if (n > max) throw new UsageError(`${name}: ${n} is larger than ${max}`);
  return n;
}

/** Parses a byte count (uint64). */
export function parseBytes(text: string, name: string): bigint {
  if (!/^\d{1,20}$/.test(text.trim()))
    throw new UsageError(`${name}: "${text}" is not a byte count`);
  const n = BigInt(text.trim());
  if (n > 0xffff_ffff_ffff_ffffn) throw new UsageError(`${name}: ${n} does not fit in 64 bits`);
  return n;
}

/** Parses a peer id: 40 hex digits, or at most 20 characters taken as bytes. */
export function parsePeerId(text: string, name: string): Buffer {
  if (/^[0-9a-fA-F]{40}$/.test(text)) return Buffer.from(text, 'hex');
  const bytes = Buffer.from(text, 'latin1');
  if (bytes.length > 20 || /[^\x20-\x7e]/.test(text)) {
    throw new UsageError(
      `${name}: "${text}" must be at most 20 printable characters or 40 hex digits`,
    );
  }
  return bytes;
}
