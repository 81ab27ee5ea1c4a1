import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  linkSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  writeSync,
  constants as fsConstants,
} from 'node:fs';
import { open, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Crash-safe file replacement: the new content goes to a temp file beside the
 * target (O_EXCL, the final mode from the start), is fsync'ed, renamed over the
 * target (atomic on POSIX, rename(2)), and the directory is fsync'ed so the
 * rename itself survives a power cut. A reader sees the old file or the new
 * one, never a torn one. Temp names carry TEMP_MARK so that a crash's leftovers
 * are recognised and removed by `removeStaleTemps` at the next start.
 */
export const TEMP_MARK = '.tmp-';

/** Options of an atomic write. */
export interface AtomicWriteOptions {
  /** File mode of the new file (default 0o644; secrets use 0o600). */
  readonly mode?: number;
  /**
   * Never replace an existing file: the temp is hard-linked into place (link(2) fails
   * with EEXIST), for keys that must not change under a process that created one first.
   */
  readonly exclusive?: boolean;
}

const DEFAULT_MODE = 0o644;

function tempPath(path: string): string {
  return join(
    dirname(path),
    `${basename(path)}${TEMP_MARK}${process.pid}-${randomBytes(4).toString('hex')}`,
  );
}

/** fsyncs a directory, so the names created or renamed in it survive a power cut. */
export function fsyncDirSync(dir: string): void {
  const fd = openSync(dir, fsConstants.O_RDONLY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Replaces `path` with `data` atomically and durably (synchronous; for small files at start). */
export function writeFileAtomicSync(
  path: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): void {
  const tmp = tempPath(path);
  const fd = openSync(
    tmp,
    fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL,
    options.mode ?? DEFAULT_MODE,
  );
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  try {
    if (options.exclusive === true) linkSync(tmp, path);
    else renameSync(tmp, path);
  } finally {
    rmSync(tmp, { force: true });
  }
  fsyncDirSync(dirname(path));
}

/** Replaces `path` with `data` atomically and durably, off the event loop. */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const tmp = tempPath(path);
  const fh = await open(tmp, 'wx', options.mode ?? DEFAULT_MODE);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** Whether a file name is a temp file left by an atomic write. */
export function isAtomicTemp(name: string): boolean {
  return name.includes(TEMP_MARK);
}

/**
 * Removes the temp files a crash left in `dir` (call at start, while the
 * data dir's lock is held, so no live writer owns them). Returns their names.
 * With `target`, only the temps of that one file name (its writer is the caller).
 */
export function removeStaleTempsSync(dir: string, target?: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const stale = names.filter(
    (n) => isAtomicTemp(n) && (target === undefined || n.startsWith(target + TEMP_MARK)),
  );
  for (const n of stale) rmSync(join(dir, n), { force: true });
  return stale;
}

/** `removeStaleTempsSync`, off the event loop. */
export async function removeStaleTemps(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const stale = names.filter(isAtomicTemp);
  await Promise.all(stale.map((n) => rm(join(dir, n), { force: true })));
  return stale;
}
