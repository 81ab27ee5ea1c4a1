/**
 * Helpers for the torrent integration tests: temp dirs, random content, torrents, free
 * ports, child processes with line capture, and our own CLI (from dist/, built by `npm test`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTorrent, withTrackers } from '../../agent/torrent/create.js';
import {
  parseMetainfo,
  pieceHash,
  pieceSize,
  type Metainfo,
} from '../../agent/torrent/metainfo.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** `btagent` as users run it (download and seed go straight to the torrent commands). */
export const STANDALONE = join(ROOT, 'dist', 'agent', 'main.js');
export const LT_PEER = join(ROOT, 'tools', 'bench', 'lt_peer.py');
/** Debian's python3 (python3-libtorrent lives there, not in a pyenv). */
export const SYSTEM_PYTHON = '/usr/bin/python3';

const cleanups: (() => void)[] = [];
export function tmp(prefix = 'bt-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}
export function removeTemps(): void {
  while (cleanups.length) cleanups.pop()!();
}

/** Writes `size` random bytes to dir/name (creating dirs); returns the path. */
export function randomFile(dir: string, name: string, size: number): string {
  const p = join(dir, name);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, randomBytes(size));
  return p;
}

export interface TestTorrent {
  path: string;
  raw: Buffer;
  meta: Metainfo;
}

/** Creates a .torrent for `content` (file or dir), optionally with a tracker; writes it to `out`. */
export async function makeTorrent(
  content: string,
  pieceLength: number,
  out: string,
  tracker?: string,
): Promise<TestTorrent> {
  let raw = await createTorrent({ path: content, pieceLength });
  if (tracker) raw = withTrackers(raw, [tracker]);
  writeFileSync(out, raw);
  return { path: out, raw, meta: parseMetainfo(raw) };
}

/** A free TCP port on 127.0.0.1 (bind 0, read, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** A child process with its output captured line by line. */
export class Proc {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  output = '';
  readonly exited: Promise<number | string>;
  private waiters: { re: RegExp | ((l: string) => boolean); resolve: (l: string) => void }[] = [];

  constructor(cmd: string, args: string[], opts: { cwd?: string } = {}) {
    this.child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let partial = '';
    const onData = (d: Buffer): void => {
      const s = d.toString();
      this.output += s;
      if (this.output.length > 2_000_000) this.output = this.output.slice(-1_000_000);
      partial += s;
      const parts = partial.split(/\r?\n|\r/);
      partial = parts.pop()!;
      for (const l of parts) this.onLine(l);
    };
    this.child.stdout!.on('data', onData);
    this.child.stderr!.on('data', onData);
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code, sig) => resolve(code ?? sig ?? -1)),
    );
  }

  private onLine(l: string): void {
    this.lines.push(l);
    if (this.lines.length > 10000) this.lines.splice(0, 5000);
    this.waiters = this.waiters.filter((w) => {
      const ok = typeof w.re === 'function' ? w.re(l) : w.re.test(l);
      if (ok) w.resolve(l);
      return !ok;
    });
  }

  /** Waits for an output line matching `re`. */
  waitFor(re: RegExp | ((l: string) => boolean), timeoutMs = 20_000): Promise<string> {
    const found = this.lines.find((l) => (typeof re === 'function' ? re(l) : re.test(l)));
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () =>
          reject(
            new Error(`timeout waiting for ${String(re)}; output:\n${this.output.slice(-3000)}`),
          ),
        timeoutMs,
      );
      this.waiters.push({
        re,
        resolve: (l) => {
          clearTimeout(t);
          resolve(l);
        },
      });
    });
  }

  /** JSON lines printed so far. */
  json(): Record<string, unknown>[] {
    return this.lines
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  async kill(sig: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(sig);
    const t = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await this.exited;
    clearTimeout(t);
  }
}

/** Runs our CLI (`download` / `seed`) from dist. */
export function ours(args: string[]): Proc {
  return new Proc(process.execPath, [STANDALONE, ...args]);
}

/** Resolves with the exit code, rejecting after `timeoutMs`. */
export async function exitCode(p: Proc, timeoutMs = 60_000): Promise<number | string> {
  let t: NodeJS.Timeout | undefined;
  const r = await Promise.race([
    p.exited,
    new Promise<never>((_, rej) => {
      t = setTimeout(
        () => rej(new Error(`process did not exit; output:\n${p.output.slice(-3000)}`)),
        timeoutMs,
      );
    }),
  ]);
  clearTimeout(t);
  return r;
}

/**
 * transmission-cli's arguments for a download of `torrent` into `out`, with a config dir
 * made under `dir` that keeps it on loopback: DHT, LSD, PEX, uTP and port forwarding off.
 */
export function transmissionArgs(
  dir: string,
  out: string,
  port: number,
  torrent: string,
): string[] {
  const cfg = join(dir, 'tr-cfg');
  mkdirSync(cfg, { recursive: true });
  mkdirSync(out, { recursive: true });
  writeFileSync(
    join(cfg, 'settings.json'),
    JSON.stringify({
      'dht-enabled': false,
      'lpd-enabled': false,
      'pex-enabled': false,
      'utp-enabled': false,
      'port-forwarding-enabled': false,
      'bind-address-ipv4': '127.0.0.1',
      'bind-address-ipv6': '::1',
      'rpc-enabled': false,
      'peer-port': port,
      'rename-partial-files': false,
      encryption: 0,
    }),
  );
  return ['-g', cfg, '-w', out, '-p', String(port), '-M', '-et', torrent];
}

/** aria2c restricted to loopback with DHT, LSD, PEX off. */
export function aria2cArgs(port: number): string[] {
  return [
    '--enable-dht=false',
    '--enable-dht6=false',
    '--bt-enable-lpd=false',
    '--enable-peer-exchange=false',
    '--interface=127.0.0.1',
    `--listen-port=${port}`,
    '--bt-external-ip=127.0.0.1',
    '--file-allocation=none',
    '--summary-interval=0',
    '--console-log-level=warn',
    '--no-conf',
  ];
}

/** True when two files have identical bytes. */
export function sameBytes(a: string, b: string): boolean {
  return readFileSync(a).equals(readFileSync(b));
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port. */
export async function waitPort(port: number, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nothing listening on port ${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Polls `f` until it returns true. */
export async function until(f: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timeout: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The pieces of a single-file torrent whose bytes in `file` hash right (none if absent). */
export function piecesOnDisk(meta: Metainfo, file: string): Set<number> {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch {
    return new Set();
  }
  const ok = new Set<number>();
  for (let i = 0; i < meta.pieceCount; i++) {
    const start = i * meta.pieceLength;
    const piece = data.subarray(start, start + pieceSize(meta, i));
    if (createHash('sha1').update(piece).digest().equals(pieceHash(meta, i))) ok.add(i);
  }
  return ok;
}
