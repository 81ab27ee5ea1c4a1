/**
 * Child processes for the benchmarks and the local cluster launcher: start a node
 * script that logs a JSON `listening` line (as btagent does), and stop it politely.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** A started child and the address from its `listening` line. */
export interface ListeningChild {
  readonly child: ChildProcess;
  /** "host:port" as the child logged it. */
  readonly addr: string;
  readonly port: number;
}

/**
 * Runs `node argv…` and resolves once it logs `{"msg":"listening","addr":…}` on stdout
 * (btagent logs it at level info); rejects if it exits first. stderr is inherited.
 */
export function startListening(
  argv: string[],
  env: Record<string, string> = {},
): Promise<ListeningChild> {
  const child = spawn(process.execPath, argv, {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const l = JSON.parse(line) as { msg?: string; addr?: string };
        if (l.msg === 'listening' && l.addr !== undefined) {
          resolve({ child, addr: l.addr, port: Number(l.addr.split(':').pop()) });
        }
      } catch {
        // not JSON
      }
    });
    child.once('exit', (c) => reject(new Error(`process exited with ${c}`)));
  });
}

/** SIGTERM, then SIGKILL if it has not exited within `graceMs`; resolves once it has. */
export function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** A fresh temp directory, removed when this process exits: agents' data dirs, key files. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Writes a new cluster key file (0600) into `dir` and returns its path. Agents are
 * keyed by default and only agents with the same key form a cluster, so every agent
 * a tool starts gets `--cluster-key` with this one file.
 */
export function writeClusterKey(dir: string): string {
  const file = join(dir, 'cluster.key');
  writeFileSync(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  return file;
}
