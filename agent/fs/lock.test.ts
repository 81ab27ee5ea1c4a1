import { spawn } from 'node:child_process';
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  acquireDataDirLock,
  DataDirLockedError,
  LOCK_FILE,
  lockHolderLive,
  parseLockHolder,
  type LockWorld,
} from './index.js';

const world = (over: Partial<LockWorld> = {}): LockWorld => ({
  self: { pid: 100, host: 'h1', token: 'mine' },
  ownTokens: new Set(),
  now: 1_000_000,
  mtimeMs: 1_000_000,
  leaseMs: 30_000,
  isAlive: (pid) => pid === 200,
  ...over,
});

describe('lockHolderLive (pure)', () => {
  it('judges a same-host holder by its pid, another host by the lease', () => {
    expect(lockHolderLive(parseLockHolder('200 h1 t'), world())).toBe(true);
    expect(lockHolderLive(parseLockHolder('300 h1 t'), world())).toBe(false);
    // A lock written by an older version (pid only) is taken as this host's.
    expect(lockHolderLive(parseLockHolder('200\n'), world())).toBe(true);
    expect(lockHolderLive(parseLockHolder('300\n'), world())).toBe(false);
    // Our pid with a token we do not hold: a previous life (container pid 1 again).
    expect(lockHolderLive(parseLockHolder('100 h1 old'), world())).toBe(false);
    expect(
      lockHolderLive(parseLockHolder('100 h1 t2'), world({ ownTokens: new Set(['t2']) })),
    ).toBe(true);
    // Another host: its pid means nothing here; live while the lease is fresh.
    expect(lockHolderLive(parseLockHolder('300 h2 t'), world({ mtimeMs: 990_000 }))).toBe(true);
    expect(lockHolderLive(parseLockHolder('200 h2 t'), world({ mtimeMs: 900_000 }))).toBe(false);
    expect(lockHolderLive(parseLockHolder(''), world())).toBe(false);
  });
});

describe('acquireDataDirLock', () => {
  it('refuses a second holder while the first is live, naming the dir and pid', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'bto-lock-')), 'data');
    const a = acquireDataDirLock(dir);
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8')).toBe(
      `${process.pid} ${hostname()} ${a.holder.token}\n`,
    );
    let err: unknown;
    try {
      acquireDataDirLock(dir);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DataDirLockedError);
    expect((err as Error).message).toContain(dir);
    expect((err as Error).message).toContain(`pid ${process.pid}`);
    a.release();
    a.release(); // idempotent
    const b = acquireDataDirLock(dir);
    b.release();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses a live holder in another process and takes over a dead one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bto-lock-'));
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    await new Promise((r) => child.once('spawn', r));
    writeFileSync(join(dir, LOCK_FILE), `${child.pid} ${hostname()} theirs\n`);
    expect(() => acquireDataDirLock(dir)).toThrow(new RegExp(`pid ${child.pid}`));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const l = acquireDataDirLock(dir);
    expect(parseLockHolder(readFileSync(join(dir, LOCK_FILE), 'utf8'))?.token).toBe(l.holder.token);
    l.release();
  });

  it("takes over another host's lock only once its lease expired, and keeps its own fresh", () => {
    const dir = mkdtempSync(join(tmpdir(), 'bto-lock-'));
    const path = join(dir, LOCK_FILE);
    writeFileSync(path, `1 other-host theirs\n`);
    expect(() => acquireDataDirLock(dir, { leaseMs: 60_000 })).toThrow(/on other-host/);
    const old = new Date(Date.now() - 120_000);
    utimesSync(path, old, old);
    const l = acquireDataDirLock(dir, { leaseMs: 60_000 });
    utimesSync(path, old, old);
    l.refresh(); // the holder's timer does this every lease/3
    expect(Date.now() - statSync(path).mtimeMs).toBeLessThan(10_000);
    l.release();
  });

  it('reports a lock lost to another holder', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bto-lock-'));
    const lost: unknown[] = [];
    const l = acquireDataDirLock(dir, { onLost: (h) => lost.push(h?.token) });
    writeFileSync(join(dir, LOCK_FILE), `1 other-host intruder\n`);
    l.refresh();
    expect(lost).toEqual(['intruder']);
    l.release(); // not ours any more: left in place
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8')).toContain('intruder');
  });
});
