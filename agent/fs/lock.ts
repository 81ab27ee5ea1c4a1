/**
 * The data directory's LOCK, held for an agent's whole life: two agents writing one
 * directory would interleave their resume journals and settings.
 *
 * Node has no flock(2) without a native addon, so the lock is a file whose content names
 * its holder ("pid host token"). It is created with link(2) of a fully written temp file,
 * so it never exists half-written and never replaces another holder's file. A lock whose
 * holder is gone (same host and that pid is dead, or another host's lock whose lease
 * expired: the holder touches it every `leaseMs / 3`) is taken over under a second,
 * short-lived exclusive file (LOCK.takeover): only its holder may replace LOCK, and only
 * after reading again, under it, that LOCK still names the dead holder. Two agents taking
 * over one stale lock at once therefore end with exactly one holder; the other refuses.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  linkSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeSync,
  constants as fsConstants,
  mkdirSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fsyncDirSync, TEMP_MARK } from './atomic-write.js';

/** The lock file's name inside the data directory. */
export const LOCK_FILE = 'LOCK';
const TAKEOVER_FILE = 'LOCK.takeover';

/**
 * Another host's lock is stale once untouched this long. 30 s: far above the refresh
 * period (10 s), so a busy event loop never loses its lock, and short enough that a
 * Swarm task replaced after a crash starts within a minute on a shared volume.
 */
export const DEFAULT_LOCK_LEASE_MS = 30_000;
/** A takeover file older than this was left by a crash mid-takeover (it lives for µs). */
const TAKEOVER_STALE_MS = 5_000;
/** Attempts before giving up on a lock that keeps changing hands. */
const ATTEMPTS = 20;
/** Pause between attempts while another process is taking over. */
const RETRY_MS = 25;

/** The data directory is held by another live agent. */
export class DataDirLockedError extends Error {
  override name = 'DataDirLockedError';
  constructor(
    readonly dir: string,
    readonly pid: number,
    readonly host = '',
  ) {
    super(
      `data directory ${dir} is in use by another agent (pid ${pid}${host && host !== hostname() ? ` on ${host}` : ''}); give each agent its own --data-dir`,
    );
  }
}

/** Who a LOCK file names. */
export interface LockHolder {
  readonly pid: number;
  /** '' in a lock written by an older version (pid only): taken as this host. */
  readonly host: string;
  readonly token: string;
}

/** Parses a LOCK file's content; undefined when it names nobody. */
export function parseLockHolder(text: string): LockHolder | undefined {
  const [pidText = '', host = '', token = ''] = text.trim().split(/\s+/);
  const pid = Number(pidText);
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  return { pid, host, token };
}

/** What the pure staleness check needs to know about the world. */
export interface LockWorld {
  readonly self: LockHolder;
  /** Tokens of the locks this process holds now (another Agent in the same process). */
  readonly ownTokens: ReadonlySet<string>;
  readonly now: number;
  /** The LOCK file's mtime, ms. */
  readonly mtimeMs: number;
  readonly leaseMs: number;
  readonly isAlive: (pid: number) => boolean;
}

/** Whether a lock's holder still holds it. Pure. */
export function lockHolderLive(h: LockHolder | undefined, w: LockWorld): boolean {
  if (h === undefined) return false; // garbage: no writer of ours leaves one (link is atomic)
  if (w.ownTokens.has(h.token)) return true;
  if (h.host === '' || h.host === w.self.host) {
    // Our own pid with a token we do not hold: a previous life of this process
    // (a container restarted with the same hostname is pid 1 again).
    if (h.pid === w.self.pid) return false;
    return w.isAlive(h.pid);
  }
  return w.now - w.mtimeMs <= w.leaseMs;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, someone else's
  }
}

const heldTokens = new Set<string>();

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function code(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if (code(e) === 'ENOENT') return undefined;
    throw e;
  }
}

/** Options of `acquireDataDirLock`. */
export interface DataDirLockOptions {
  /** Another host's lock is stale once untouched this long (DEFAULT_LOCK_LEASE_MS). */
  readonly leaseMs?: number;
  /** Called when the lock was found taken by someone else while held (lease lost). */
  readonly onLost?: (holder: LockHolder | undefined) => void;
  /** Called between judging a lock stale and taking it over (tests widen the race with it). */
  readonly beforeTakeover?: () => void;
}

/** A held data-directory lock. */
export class DataDirLock {
  private timer: NodeJS.Timeout | undefined;
  private released = false;

  constructor(
    readonly dir: string,
    readonly holder: LockHolder,
    leaseMs: number,
    private readonly onLost: ((h: LockHolder | undefined) => void) | undefined,
  ) {
    heldTokens.add(holder.token);
    this.timer = setInterval(() => this.refresh(), Math.max(1, Math.floor(leaseMs / 3)));
    this.timer.unref();
  }

  get path(): string {
    return join(this.dir, LOCK_FILE);
  }

  /** Touches the lock (its lease, for other hosts) and checks it is still ours. */
  refresh(): void {
    if (this.released) return;
    let h: LockHolder | undefined;
    try {
      h = parseLockHolder(readText(this.path) ?? '');
      if (h?.token === this.holder.token) {
        const t = new Date();
        utimesSync(this.path, t, t);
        return;
      }
    } catch {
      return; // a transient error: try again at the next tick
    }
    clearInterval(this.timer);
    this.onLost?.(h);
  }

  /** Releases the lock (idempotent); the file is removed only while it names us. */
  release(): void {
    if (this.released) return;
    this.released = true;
    clearInterval(this.timer);
    heldTokens.delete(this.holder.token);
    try {
      if (parseLockHolder(readText(this.path) ?? '')?.token === this.holder.token)
        rmSync(this.path, { force: true });
    } catch {
      // already gone
    }
  }
}

function writeTemp(path: string, text: string): void {
  const fd = openSync(path, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o644);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Takes LOCK.takeover exclusively, clearing one a crash left; false when someone has it. */
function takeTakeover(dir: string, tmp: string): boolean {
  const path = join(dir, TAKEOVER_FILE);
  try {
    linkSync(tmp, path);
    return true;
  } catch (e) {
    if (code(e) !== 'EEXIST') throw e;
  }
  try {
    if (Date.now() - statSync(path).mtimeMs > TAKEOVER_STALE_MS) {
      // Rename first: of two processes clearing it, one moves it, the other gets ENOENT.
      const moved = `${path}${TEMP_MARK}${process.pid}-${randomBytes(4).toString('hex')}`;
      renameSync(path, moved);
      rmSync(moved, { force: true });
    }
  } catch {
    // someone else cleared it
  }
  return false;
}

/**
 * Takes `dir`'s LOCK for this process (creating `dir`, 0700, if needed), or throws
 * DataDirLockedError naming the live holder. Synchronous: it runs once, at start,
 * before anything else touches the directory.
 */
export function acquireDataDirLock(dir: string, options: DataDirLockOptions = {}): DataDirLock {
  const leaseMs = options.leaseMs ?? DEFAULT_LOCK_LEASE_MS;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const self: LockHolder = {
    pid: process.pid,
    host: hostname(),
    token: randomBytes(8).toString('hex'),
  };
  const text = `${self.pid} ${self.host} ${self.token}\n`;
  const lockPath = join(dir, LOCK_FILE);
  const tmp = join(dir, `${LOCK_FILE}${TEMP_MARK}${process.pid}-${self.token}`);
  let last: LockHolder | undefined;
  try {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      rmSync(tmp, { force: true });
      writeTemp(tmp, text); // anew each time: a cleaner may have removed it
      try {
        linkSync(tmp, lockPath);
        fsyncDirSync(dir);
        return new DataDirLock(dir, self, leaseMs, options.onLost);
      } catch (e) {
        if (code(e) !== 'EEXIST') throw e;
      }
      const seen = readText(lockPath);
      if (seen === undefined) continue; // released meanwhile
      last = parseLockHolder(seen);
      const world = (mtimeMs: number): LockWorld => ({
        self,
        ownTokens: heldTokens,
        now: Date.now(),
        mtimeMs,
        leaseMs,
        isAlive: pidAlive,
      });
      let mtimeMs: number;
      try {
        mtimeMs = statSync(lockPath).mtimeMs;
      } catch {
        continue;
      }
      if (lockHolderLive(last, world(mtimeMs)))
        throw new DataDirLockedError(dir, last!.pid, last!.host);
      options.beforeTakeover?.();
      if (!takeTakeover(dir, tmp)) {
        sleepSync(RETRY_MS);
        continue;
      }
      try {
        // Under LOCK.takeover nobody else replaces LOCK: if it still names the dead
        // holder, replace it in one rename (no moment without a LOCK).
        if (readText(lockPath) === seen) {
          renameSync(tmp, lockPath);
          fsyncDirSync(dir);
          return new DataDirLock(dir, self, leaseMs, options.onLost);
        }
      } finally {
        rmSync(join(dir, TAKEOVER_FILE), { force: true });
      }
    }
  } finally {
    rmSync(tmp, { force: true });
  }
  throw new DataDirLockedError(dir, last?.pid ?? -1, last?.host ?? '');
}
