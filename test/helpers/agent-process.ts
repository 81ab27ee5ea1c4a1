import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

/** The repository root (tests run against the built dist/, produced by `npm test`'s build). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BTAGENT = join(ROOT, 'bin', 'btagent.js');
export const BTCTL = join(ROOT, 'bin', 'btctl.js');

let sharedKeyFile: string | undefined;

/**
 * The cluster key file every agent of this test file shares (agents are keyed by
 * default, and only agents with the same key form a cluster). Created on first
 * use (0600), removed when the test process exits.
 */
export function clusterKeyFile(): string {
  if (sharedKeyFile !== undefined) return sharedKeyFile;
  const dir = mkdtempSync(join(tmpdir(), 'btoverlay-key-'));
  const file = join(dir, 'cluster.key');
  writeFileSync(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  sharedKeyFile = file;
  return file;
}

/**
 * The flags startAgent adds to `args`: a fresh temp `--data-dir` (removed when the
 * agent exits) unless one is given, and the test file's shared `--cluster-key`
 * unless the args choose (`--cluster-key` or `--no-cluster-key`).
 */
export function testAgentFlags(
  args: string[],
  env: Record<string, string> = {},
): { flags: string[]; tempDir: string | undefined; cleanup: () => void } {
  const has = (flag: string, envName: string): boolean =>
    env[envName] !== undefined || args.some((a) => a === flag || a.startsWith(`${flag}=`));
  const flags: string[] = [];
  let tempDir: string | undefined;
  if (!has('--data-dir', 'BTAGENT_DATA_DIR')) {
    tempDir = mkdtempSync(join(tmpdir(), 'btoverlay-data-'));
    flags.push('--data-dir', tempDir);
  }
  if (
    !has('--cluster-key', 'BTAGENT_CLUSTER_KEY') &&
    !has('--no-cluster-key', 'BTAGENT_NO_CLUSTER_KEY')
  ) {
    flags.push('--cluster-key', clusterKeyFile());
  }
  const cleanup = (): void => {
    if (tempDir !== undefined) rmSync(tempDir, { recursive: true, force: true });
  };
  return { flags, tempDir, cleanup };
}

/** A running `btagent` process started by a test. */
export interface AgentProcess {
  readonly child: ChildProcess;
  /** "host:port" it listens on (the real port when started with port 0). */
  readonly addr: string;
  readonly host: string;
  readonly port: number;
  /** Every JSON log line it printed so far. */
  readonly logs: Record<string, unknown>[];
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
  /** Waits for a log line matching `pred`. */
  waitForLog(
    pred: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves on exit. */
  stop(graceMs?: number): Promise<number | string>;
}

/**
 * Starts `btagent run` with the given flags on `host` and a free port (port 0),
 * and resolves once it logged "listening". Extra env vars may be given. Unless the
 * args say otherwise, the agent gets its own temp data dir and the test file's
 * shared cluster key (see testAgentFlags).
 */
export async function startAgent(
  args: string[] = [],
  opts: {
    host?: string;
    env?: Record<string, string>;
    timeoutMs?: number;
    /** Start as an operator would: no --data-dir nor --cluster-key added (give XDG_DATA_HOME). */
    bare?: boolean;
  } = {},
): Promise<AgentProcess> {
  const host = opts.host ?? '127.0.0.1';
  const hasListen = args.some((a) => a === '--listen' || a.startsWith('--listen='));
  const defaults = opts.bare
    ? { flags: [], tempDir: undefined, cleanup: () => undefined }
    : testAgentFlags(args, opts.env);
  const child = spawn(
    process.execPath,
    [
      BTAGENT,
      'run',
      ...(hasListen ? [] : ['--listen', `${host}:0`]),
      '--log-level',
      'info',
      ...defaults.flags,
      ...args,
    ],
    { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const logs: Record<string, unknown>[] = [];
  const waiters: {
    pred: (l: Record<string, unknown>) => boolean;
    resolve: (l: Record<string, unknown>) => void;
  }[] = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      line = { msg: text };
    }
    logs.push(line);
    for (const w of [...waiters]) {
      if (w.pred(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => {
      defaults.cleanup();
      resolve(code ?? signal ?? -1);
    }),
  );
  const waitForLog = (pred: (l: Record<string, unknown>) => boolean, timeoutMs = 10_000) => {
    const found = logs.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const w = { pred, resolve };
      waiters.push(w);
      const t = setTimeout(() => {
        waiters.splice(waiters.indexOf(w), 1);
        reject(new Error(`log line not seen within ${timeoutMs} ms; stderr: ${stderr}`));
      }, timeoutMs);
      void exited.then(() => {
        clearTimeout(t);
        reject(new Error(`agent exited; stderr: ${stderr}`));
      });
      const orig = w.resolve;
      w.resolve = (l) => {
        clearTimeout(t);
        orig(l);
      };
    });
  };
  const listening = await waitForLog((l) => l.msg === 'listening', opts.timeoutMs ?? 15_000);
  const addr = String(listening.addr);
  const port = Number(addr.slice(addr.lastIndexOf(':') + 1));
  const a: AgentProcess = {
    child,
    addr: `${host}:${port}`,
    host,
    port,
    logs,
    exited,
    waitForLog,
    stop: async (graceMs = 6000) => {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
  };
  return a;
}

/** The result of running a CLI to completion. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a node script (e.g. BTCTL) with arguments; resolves when it exits. */
export function run(
  script: string,
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 20_000,
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} ${args.join(' ')} timed out`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(t);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/** Runs btctl. */
export function btctl(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return run(BTCTL, args, env);
}

/** Polls `fn` until it returns true or `timeoutMs` passes; returns whether it did. */
export async function eventually(
  fn: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  stepMs = 25,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await fn()) return true;
    } catch {
      // not yet
    }
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** A random 20-byte info hash as 40 hex digits. */
export function randomInfoHash(): string {
  return [...Array(40)].map(() => Math.floor(Math.random() * 16).toString(16)).join('');
}

/**
 * Starts an agent that runs torrents, on `host`, with its own data dir and an ephemeral
 * peer-wire port; its download root is the data dir's parent (the test's directory, where
 * the save dirs are). Gossip is quick (100 ms) so end-to-end tests do not wait on it.
 */
export function startTorrentAgent(
  host: string,
  dataDir: string,
  opts: { bootstrap?: string; extra?: string[] } = {},
): Promise<AgentProcess> {
  return startAgent(
    [
      '--peer-port',
      '0',
      '--data-dir',
      dataDir,
      '--download-root',
      dirname(dataDir),
      '--gossip-interval',
      '100ms',
      ...(opts.extra ?? []),
      ...(opts.bootstrap ? ['--bootstrap', opts.bootstrap] : []),
    ],
    { host },
  );
}
